// The stack's live APIs: rows by keyset, the histogram, and the change stream.

export interface Row {
	id: number;
	timestamp: number;
	body: string;
	asOf: number; // the change number the row is known as of
	flash?: number; // highlighted until this time (ms), after a mutate
}

export interface Change {
	seq: number;
	op: 'insert' | 'mutate' | 'delete';
	id: number;
	time: number;
	row: { id: number; timestamp: number; body: string };
}

export interface Page {
	seq: number;
	rows: Row[];
	more: boolean;
}

export interface Histogram {
	seq: number;
	start: number | null;
	stop: number | null;
	bucket_s: number;
	counts: number[];
}

const TOKEN_KEY = 'tributary-token';

/** The API token: from the link's fragment (#token=...), then kept for this tab only. */
export function token(): string | null {
	const hash = new URLSearchParams(location.hash.slice(1));
	const given = hash.get('token');
	if (given) {
		sessionStorage.setItem(TOKEN_KEY, given);
		history.replaceState(history.state, '', location.pathname + location.search);
	}
	return sessionStorage.getItem(TOKEN_KEY);
}

async function get<T>(path: string, params: Record<string, string | number | undefined>): Promise<T> {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
	const resp = await fetch(`${path}?${q}`, { headers: { authorization: `Bearer ${token()}` } });
	if (!resp.ok) throw new Error(`${path}: ${resp.status} ${(await resp.text()).slice(0, 200)}`);
	return (await resp.json()) as T;
}

export async function rows(
	t: number,
	dir: 'after' | 'before',
	limit: number,
	q: string,
	key?: number
): Promise<Page> {
	const page = await get<{ seq: number; rows: Omit<Row, 'asOf'>[]; more: boolean }>('/live/rows', {
		t,
		dir,
		limit,
		q,
		key
	});
	return { seq: page.seq, more: page.more, rows: page.rows.map((r) => ({ ...r, asOf: page.seq })) };
}

export function histogram(buckets: number, q: string): Promise<Histogram> {
	return get<Histogram>('/live/histogram', { buckets, q });
}

/** Subscribe to every change; calls back with each batch. Reconnects, asking for what it
 * missed (or reloads when told it is too far behind). */
export function follow(
	onChanges: (changes: Change[]) => void,
	onReload: () => void,
	onState: (live: boolean) => void,
	after: number | null = null // the change number the rows already on the page are as of
): () => void {
	let last: number | null = after;
	let ws: WebSocket | null = null;
	let stopped = false;
	const open = () => {
		const proto = location.protocol === 'https:' ? 'wss' : 'ws';
		ws = new WebSocket(`${proto}://${location.host}/ws/tributary-live?token=${encodeURIComponent(token() ?? '')}`);
		ws.onopen = () =>
			ws?.send(JSON.stringify({ action: 'subscribe', start: -(2 ** 53), stop: 2 ** 53, after: last }));
		ws.onmessage = (ev) => {
			const msg = JSON.parse(ev.data);
			if (msg.type === 'reload') {
				last = null;
				onReload();
				return;
			}
			const fresh: Change[] = (msg.changes ?? []).filter((c: Change) => last === null || c.seq > last);
			if (msg.type === 'subscribed') {
				onState(true);
				last = Math.max(last ?? 0, msg.seq);
			}
			if (fresh.length) {
				last = Math.max(last ?? 0, fresh[fresh.length - 1].seq);
				onChanges(fresh);
			}
		};
		ws.onclose = () => {
			onState(false);
			if (!stopped) setTimeout(open, 1000);
		};
	};
	open();
	return () => {
		stopped = true;
		ws?.close();
	};
}
