import { Link } from "react-router";
import type { Member } from "../../api/types";
import { PRIORITIES } from "../../api/types";
import { isFiltering, NO_FILTER, type TaskFilter } from "../../board/filters";
import { boardTextToQuery, searchPath } from "../../search/results";
import { SelectField, TextField } from "../Field";

interface Props {
  filter: TaskFilter;
  onChange: (filter: TaskFilter) => void;
  members: Member[];
  shown: number;
  total: number;
}

export function TaskFilters({ filter, onChange, members, shown, total }: Props) {
  return (
    <form className="filters" role="search" aria-label="Filter tasks" onSubmit={(e) => e.preventDefault()}>
      <TextField label="Search" type="search" name="q" value={filter.text} placeholder="Title, description or tag"
        onChange={(e) => onChange({ ...filter, text: e.target.value })} />
      <Link className="search-all-link" to={searchPath(boardTextToQuery(filter.text))}>
        Search all boards
      </Link>
      <SelectField label="Assignee" name="assignee" value={filter.assignee}
        onChange={(e) => onChange({ ...filter, assignee: e.target.value })}
        options={[
          { value: "", label: "Anyone" },
          { value: "unassigned", label: "Unassigned" },
          ...members.map((m) => ({ value: m.user_id, label: m.name })),
        ]} />
      <SelectField label="Priority" name="priority" value={filter.priority}
        onChange={(e) => onChange({ ...filter, priority: e.target.value as TaskFilter["priority"] })}
        options={[{ value: "", label: "Any" }, ...PRIORITIES.map((p) => ({ value: p, label: p[0]!.toUpperCase() + p.slice(1) }))]} />
      {isFiltering(filter) && (
        <div className="filter-summary">
          <span role="status" data-testid="filter-count" data-query={filter.text}>
            Showing {shown} of {total} tasks
          </span>
          <button type="button" className="button-secondary" onClick={() => onChange(NO_FILTER)}>
            Clear filters
          </button>
        </div>
      )}
    </form>
  );
}
