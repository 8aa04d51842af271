// Every API the stack serves, tried out in the browser with the stack's bearer token.
// The token comes as the live viewer's does: from the link's #token=..., then kept for this
// tab only (sessionStorage, shared with the viewer), or typed into the form.
const TOKEN_KEY = 'tributary-token';
const SPECS = [
	{ name: 'Sources (pause, resume, ingest)', url: '/sources/openapi.json' },
	{ name: 'Query (SQL over the lake and PostgreSQL)', url: '/query/openapi.json' },
	{ name: 'Webhook (pushed events)', url: '/webhook/openapi.json' },
	{ name: 'Live rows', url: '/live/openapi.json' }
];

function token() {
	const given = new URLSearchParams(location.hash.slice(1)).get('token');
	if (given) {
		sessionStorage.setItem(TOKEN_KEY, given);
		history.replaceState(history.state, '', location.pathname + location.search);
	}
	return sessionStorage.getItem(TOKEN_KEY);
}

function start() {
	window.ui = SwaggerUIBundle({
		urls: SPECS,
		dom_id: '#swagger-ui',
		presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
		layout: 'StandaloneLayout',
		validatorUrl: null, // no calls to swagger.io
		tryItOutEnabled: true,
		requestInterceptor: (req) => {
			if (new URL(req.url, location.href).origin === location.origin) {
				req.headers.authorization = `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`;
			}
			return req;
		}
	});
}

if (token()) {
	start();
} else {
	const form = document.getElementById('token-form');
	form.hidden = false;
	form.addEventListener('submit', (event) => {
		event.preventDefault();
		sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
		form.hidden = true;
		start();
	});
}
