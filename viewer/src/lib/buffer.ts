// The rows held in the browser: a window of the table in (timestamp, id) order around what
// the user looks at, grown by keyset pages as they scroll, trimmed far from the view so
// memory stays bounded whatever the table's size, and kept current by the change stream.

import type { Change, Row } from './api';

export const MAX_ROWS = 3000;
const RECENT = 2000; // changes kept to bring a page fetched in the meantime up to date

export function before(a: { timestamp: number; id: number }, b: { timestamp: number; id: number }): boolean {
	return a.timestamp < b.timestamp || (a.timestamp === b.timestamp && a.id < b.id);
}

/** The index of the first row at or after (t, id). */
export function seek(rows: Row[], t: number, id = -Infinity): number {
	let lo = 0;
	let hi = rows.length;
	while (lo < hi) {
		const mid = (lo + hi) >> 1;
		if (before(rows[mid], { timestamp: t, id })) lo = mid + 1;
		else hi = mid;
	}
	return lo;
}

export class Buffer {
	rows: Row[] = [];
	startOpen = true; // rows may exist before rows[0]
	endOpen = true; // ...and after the last
	recent: Change[] = [];

	/** Replace everything with the rows around a time (a jump). */
	reset(beforeRows: Row[], afterRows: Row[], moreBefore: boolean, moreAfter: boolean): void {
		this.rows = this.catchUp([...beforeRows, ...afterRows]);
		this.startOpen = moreBefore;
		this.endOpen = moreAfter;
	}

	/** Rows fetched before the first or after the last; trims the far end. */
	extend(page: Row[], atStart: boolean, more: boolean, keep: number): number {
		const fresh = this.catchUp(page).filter((r) =>
			atStart ? !this.rows.length || before(r, this.rows[0]) : !this.rows.length || before(this.rows[this.rows.length - 1], r)
		);
		let shift = 0;
		if (atStart) {
			this.rows = [...fresh, ...this.rows];
			this.startOpen = more;
			shift = fresh.length;
		} else {
			this.rows = [...this.rows, ...fresh];
			this.endOpen = more;
		}
		return shift - this.trim(keep + shift);
	}

	/** Drop rows far from ``keep`` (an index); returns how many went from the start. */
	trim(keep: number): number {
		const over = this.rows.length - MAX_ROWS;
		if (over <= 0) return 0;
		if (keep > this.rows.length / 2) {
			this.rows = this.rows.slice(over);
			this.startOpen = true;
			return over;
		}
		this.rows = this.rows.slice(0, MAX_ROWS);
		this.endOpen = true;
		return 0;
	}

	/** Whether a row at (t, id) would fall inside what the buffer covers. */
	covers(r: { timestamp: number; id: number }): boolean {
		if (!this.rows.length) return !this.startOpen && !this.endOpen;
		const first = this.rows[0];
		const last = this.rows[this.rows.length - 1];
		return (!this.startOpen || !before(r, first)) && (!this.endOpen || !before(last, r));
	}

	/** Apply changes in place; returns the rows inserted (the view re-anchors itself). */
	apply(changes: Change[], now: number): { inserted: Row[] } {
		this.recent.push(...changes);
		if (this.recent.length > RECENT) this.recent.splice(0, this.recent.length - RECENT);
		const inserted: Row[] = [];
		for (const c of changes) {
			const i = seek(this.rows, c.row.timestamp, c.row.id);
			const here = this.rows[i]?.id === c.id ? this.rows[i] : undefined;
			if (here && c.seq <= here.asOf) continue; // the row is newer than this change
			if (c.op === 'delete') {
				if (here) this.rows.splice(i, 1);
			} else if (here) {
				here.body = c.row.body;
				here.asOf = c.seq;
				if (c.op === 'mutate') here.flash = now + 1500;
			} else if (this.covers(c.row) && !this.knownAfter(i, c.seq)) {
				const row = { ...c.row, asOf: c.seq };
				this.rows.splice(i, 0, row);
				inserted.push(row);
			}
		}
		return { inserted };
	}

	/** Both neighbours were read after this change: the row would be there if it lived. */
	private knownAfter(i: number, seq: number): boolean {
		const prev = this.rows[i - 1];
		const next = this.rows[i];
		return !!prev && !!next && prev.asOf >= seq && next.asOf >= seq;
	}

	/** A page read while changes kept coming: apply those it does not reflect yet. */
	private catchUp(page: Row[]): Row[] {
		if (!page.length) return page;
		const scratch = new Buffer();
		scratch.rows = page;
		scratch.startOpen = false;
		scratch.endOpen = false;
		const asOf = Math.min(...page.map((r) => r.asOf));
		const lo = page[0];
		const hi = page[page.length - 1];
		const pending = this.recent.filter(
			(c) => c.seq > asOf && !before(c.row, lo) && !before(hi, c.row)
		);
		if (pending.length) scratch.apply(pending, 0);
		return scratch.rows;
	}
}
