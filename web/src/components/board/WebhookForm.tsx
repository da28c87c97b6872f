import { useId, useState, type FormEvent } from "react";
import { BOARD_EVENT_TYPES } from "../../api/types";
import { ALL_EVENTS, type Webhook } from "../../api/webhooks";
import { eventsToSend, webhookUrl } from "../../board/webhooks";
import { Alert } from "../Alert";
import { TextField } from "../Field";
import { useAction } from "../useAction";
import { useFieldErrors, validate } from "../validation";

export interface WebhookSettings {
  url: string;
  events: Webhook["events"];
}

interface Props {
  /** The form's accessible name ("New webhook", "Edit the webhook to …"). */
  label: string;
  /** The webhook being edited; none for a new one. */
  initial?: WebhookSettings;
  submitLabel: string;
  pendingLabel: string;
  /** Sends the settings; a thrown problem shows next to its field (422) or above the form. */
  onSave: (settings: WebhookSettings) => Promise<void>;
  onCancel?: () => void;
  /** Empties the form after a save (the form for a new webhook stays on screen). */
  clearOnSave?: boolean;
}

/** A receiver URL and the events sent to it: all, or the types chosen. */
export function WebhookForm({ label, initial, submitLabel, pendingLabel, onSave, onCancel, clearOnSave = false }: Props) {
  const id = useId();
  const startsWithAll = !initial || initial.events.length === 0 || initial.events.includes(ALL_EVENTS);
  const [url, setUrl] = useState(initial?.url ?? "");
  const [allEvents, setAllEvents] = useState(startsWithAll);
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set(startsWithAll ? [] : initial?.events));
  const save = useAction(async () => {
    await onSave({ url: url.trim(), events: eventsToSend(allEvents, chosen) });
    if (clearOnSave) {
      setUrl("");
      setAllEvents(true);
      setChosen(new Set());
    }
  });
  const errors = useFieldErrors(save);
  const onSubmit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const local = validate({ url }, { url: [webhookUrl] });
    if (!allEvents && chosen.size === 0) local.events = "Choose at least one event type, or All events.";
    if (errors.check(e.currentTarget, local)) void save.run();
  };
  const eventsError = errors.errorOf("events");
  const choose = (type: string, on: boolean) => {
    setChosen((c) => {
      const next = new Set(c);
      if (on) next.add(type);
      else next.delete(type);
      return next;
    });
    errors.edited("events");
  };

  return (
    <form onSubmit={onSubmit} noValidate aria-label={label}>
      <Alert>{errors.formMessage(["url", "events"])}</Alert>
      <TextField label="Webhook URL" name="url" type="url" inputMode="url" autoComplete="off" required value={url}
        autoFocus={initial !== undefined /* an edit starts where the user asked for it */}
        hint="Where the events are sent: an http:// or https:// address."
        onChange={(e) => { setUrl(e.target.value); errors.edited("url"); }} error={errors.errorOf("url")} />
      <fieldset className="webhook-events">
        <legend>Events</legend>
        <label className="checkbox">
          <input type="radio" name={`${id}-events-mode`} checked={allEvents}
            onChange={() => { setAllEvents(true); errors.edited("events"); }} />
          All events
        </label>
        <label className="checkbox">
          <input type="radio" name={`${id}-events-mode`} checked={!allEvents} onChange={() => setAllEvents(false)} />
          Only the events chosen below
        </label>
        {!allEvents && (
          <ul className="event-type-list" aria-label="Event types">
            {BOARD_EVENT_TYPES.map((type) => (
              <li key={type}>
                <label className="checkbox">
                  <input type="checkbox" name="events" value={type} checked={chosen.has(type)}
                    aria-invalid={eventsError ? true : undefined} aria-describedby={eventsError ? `${id}-events-error` : undefined}
                    onChange={(e) => choose(type, e.target.checked)} />
                  <code>{type}</code>
                </label>
              </li>
            ))}
          </ul>
        )}
        {eventsError && (
          <p id={`${id}-events-error`} className="field-error">
            {eventsError}
          </p>
        )}
      </fieldset>
      <div className="button-row">
        <button type="submit" disabled={save.pending}>
          {save.pending ? pendingLabel : submitLabel}
        </button>
        {onCancel && (
          <button type="button" className="button-secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
