// A single-page app: everything renders in the browser, from the stack's HTTP APIs.
export const ssr = false;
export const prerender = false;
