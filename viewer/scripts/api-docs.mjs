// The API page (static/api/) loads Swagger UI from beside itself: copy its files from the
// pinned swagger-ui-dist into the built site, since the browser may not reach any CDN.
import { copyFileSync, mkdirSync } from 'node:fs';

const from = 'node_modules/swagger-ui-dist';
const to = '../functions/viewer/site/api';
mkdirSync(to, { recursive: true });
for (const file of ['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js']) {
	copyFileSync(`${from}/${file}`, `${to}/${file}`);
}
