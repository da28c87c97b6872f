/** The logic of the "Manage columns" dialog, apart from its markup. */
import type { BoardColumn } from "../api/types";

/** The column ids with the one at `index` moved one place up (-1) or down (+1); null at the edge. */
export function reordered(columns: readonly BoardColumn[], index: number, delta: -1 | 1): string[] | null {
  const target = index + delta;
  if (index < 0 || index >= columns.length || target < 0 || target >= columns.length) return null;
  const ids = columns.map((c) => c.id);
  [ids[index], ids[target]] = [ids[target]!, ids[index]!];
  return ids;
}

/** Why a column can't be deleted (the board's last of its category), or null. */
export function cannotDelete(columns: readonly BoardColumn[], column: BoardColumn): string | null {
  const same = columns.filter((c) => c.category === column.category).length;
  return same <= 1 ? `It is the board's only “${CATEGORY_LABELS[column.category]}” column.` : null;
}

/** The columns a deleted column's tasks may go to: every other one, same category first. */
export function moveTargets(columns: readonly BoardColumn[], column: BoardColumn): BoardColumn[] {
  const others = columns.filter((c) => c.id !== column.id);
  return [...others.filter((c) => c.category === column.category), ...others.filter((c) => c.category !== column.category)];
}

/** A WIP limit typed into a field: "" is none; otherwise a whole number 1..1000, or an error message. */
export function parseWipLimit(text: string): { value: number | null } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { value: null };
  const n = Number(trimmed);
  if (!Number.isInteger(n) || n < 1 || n > 1000) return { error: "Enter a whole number from 1 to 1000, or leave it empty for no limit." };
  return { value: n };
}

/** Whether another column already has this name (names are unique per board, ignoring case). */
export function nameTaken(columns: readonly BoardColumn[], name: string, ownId?: string): boolean {
  const folded = name.trim().toLowerCase();
  return columns.some((c) => c.id !== ownId && c.name.toLowerCase() === folded);
}

export const CATEGORY_LABELS = { todo: "To do", in_progress: "In progress", done: "Done" } as const;
