import { useMemo } from "react";
import type { NewTask, Task, TaskChanges } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import type { Move } from "../../board/position";
import type { BoardSync } from "../../live/boardSync";

export interface TaskActions {
  create(task: NewTask): Promise<Task>;
  /** Moves at once on screen, then persists; puts the task back if the server refuses. */
  move(task: Task, move: Move): Promise<void>;
  /** PATCH with If-Match: the server answers 412 with `current` if someone changed it meanwhile. */
  update(task: Task, changes: TaskChanges, ifMatch: number): Promise<Task>;
}

/** Task writes for one board: REST call, then the result applied to the live state at once. */
export function useTaskActions(sync: BoardSync | null, onMoveError: (message: string | null) => void): TaskActions {
  const api = useApi();
  return useMemo<TaskActions>(
    () => ({
      async create(body) {
        const task = await api.tasks.create(body);
        sync?.applyLocalTask(task);
        return task;
      },
      async move(task, move) {
        // By column id: the board may have several columns of one status.
        const changes: TaskChanges = { position: move.position };
        if (move.column.id !== task.column_id) changes.column_id = move.column.id;
        onMoveError(null);
        sync?.applyLocalTask({ ...task, column_id: move.column.id, status: move.column.category, position: move.position });
        try {
          // No If-Match: a move changes only where the task sits, which the mover just chose.
          sync?.applyLocalTask(await api.tasks.update(task.id, changes));
        } catch (err) {
          sync?.applyLocalTask(task);
          onMoveError(`Couldn't move "${task.title}" to ${move.column.name}: ${(err as Error).message}`);
        }
      },
      async update(task, changes, ifMatch) {
        const updated = await api.tasks.update(task.id, changes, ifMatch);
        sync?.applyLocalTask(updated);
        return updated;
      },
    }),
    [api, sync, onMoveError],
  );
}
