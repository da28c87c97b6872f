import { useState, type FormEvent } from "react";
import type { Board, Member, Role } from "../../api/types";
import { useApi } from "../../app/ServicesContext";
import { Alert } from "../Alert";
import { SelectField, TextField } from "../Field";
import { useAction } from "../useAction";
import { email as emailCheck, useFieldErrors, validate } from "../validation";
import { ApiError } from "../../api/errors";

const ROLE_OPTIONS = [
  { value: "editor", label: "Editor (tasks and comments)" },
  { value: "viewer", label: "Viewer (read only)" },
];

interface Props {
  board: Board;
  me: string;
  isOwner: boolean;
  /** Called after leaving the board. */
  onLeft: () => void;
}

/** Members and their roles; the owner adds, re-roles and removes; others may leave. */
export function MembersPanel({ board, me, isOwner, onLeft }: Props) {
  const api = useApi();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("editor");
  const [note, setNote] = useState<string | null>(null);

  const add = useAction(async () => {
    change.reset();
    remove.reset();
    const member = await api.boards.addMember(board.id, { email: email.trim(), role });
    setEmail("");
    setNote(`${member.name} was added as ${member.role}.`);
  });
  const change = useAction(async (m: Member, next: Role) => {
    setNote(null);
    remove.reset();
    await api.boards.updateMember(board.id, m.user_id, next);
    setNote(`${m.name} is now ${next}.`);
  });
  const remove = useAction(async (m: Member) => {
    setNote(null);
    change.reset();
    await api.boards.removeMember(board.id, m.user_id);
    if (m.user_id === me) onLeft();
    else setNote(`${m.name} was removed from the board.`);
  });

  const notFound = add.error instanceof ApiError && add.error.code === "user_not_found";
  const already = add.error instanceof ApiError && add.error.status === 409;
  const errors = useFieldErrors(add, notFound
    ? { email: "No TaskFlow account uses this email. Ask them to sign up first." }
    : already ? { email: "This person is already a member of the board." } : {});
  const onAdd = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    setNote(null);
    if (errors.check(e.currentTarget, validate({ email }, { email: [emailCheck] }))) void add.run();
  };

  return (
    <section className="members" aria-labelledby="members-title">
      <h2 id="members-title">Members</h2>
      <Alert>{change.message ?? remove.message}</Alert>
      <Alert kind="success">{note}</Alert>
      <ul className="member-list">
        {board.members.map((m) => (
          <li key={m.user_id}>
            <span className="member-name">
              {m.name} {m.user_id === me && <span className="muted">(you)</span>}
              <span className="member-email">{m.email}</span>
            </span>
            {isOwner && m.role !== "owner" ? (
              <SelectField label={`Role of ${m.name}`} value={m.role} disabled={change.pending}
                onChange={(e) => void change.run(m, e.target.value as Role)} options={ROLE_OPTIONS} />
            ) : (
              <span className="role">{m.role}</span>
            )}
            {((isOwner && m.role !== "owner") || (!isOwner && m.user_id === me)) && (
              <button type="button" className="button-secondary" disabled={remove.pending} onClick={() => void remove.run(m)}>
                {m.user_id === me ? "Leave board" : <>Remove<span className="visually-hidden"> {m.name}</span></>}
              </button>
            )}
          </li>
        ))}
      </ul>
      {isOwner && (
        <form className="add-member" onSubmit={onAdd} noValidate aria-label="Add a member">
          <Alert>{notFound || already ? null : errors.formMessage(["email", "role"])}</Alert>
          <TextField label="Member email" type="email" name="email" autoComplete="off" required value={email}
            onChange={(e) => { setEmail(e.target.value); errors.edited("email"); }} error={errors.errorOf("email")} />
          <SelectField label="Role" name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}
            options={ROLE_OPTIONS} error={errors.errorOf("role")} />
          <button type="submit" disabled={add.pending}>
            Add member
          </button>
        </form>
      )}
    </section>
  );
}
