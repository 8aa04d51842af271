import adapter from '@sveltejs/adapter-static';

/** A static single-page app under /viewer, served by the stack (template.yaml). */
export default {
	kit: {
		adapter: adapter({ pages: '../functions/viewer/site', assets: '../functions/viewer/site', fallback: 'index.html' }),
		paths: { base: '/viewer', relative: false },
		// One script and one stylesheet: every file is a function call on the stack.
		output: { bundleStrategy: 'single' }
	}
};
