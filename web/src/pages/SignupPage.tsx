import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate } from "react-router";
import { useServices, useSession } from "../app/ServicesContext";
import { Alert } from "../components/Alert";
import { TextField } from "../components/Field";
import { useAction } from "../components/useAction";
import { usePageTitle } from "../components/usePageTitle";

export default function SignupPage() {
  usePageTitle("Create an account");
  const { api, tokens } = useServices();
  const session = useSession();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const register = useAction(async () => {
    tokens.setSession(await api.auth.register({ name, email, password }));
    navigate("/boards", { replace: true });
  });

  if (session) return <Navigate to="/boards" replace />;

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void register.run();
  };

  return (
    <section className="auth-page" aria-labelledby="signup-title">
      <h1 id="signup-title">Create an account</h1>
      <Alert>{register.message}</Alert>
      <form onSubmit={onSubmit} noValidate>
        <TextField label="Name" name="name" autoComplete="name" required value={name}
          onChange={(e) => setName(e.target.value)} error={register.fields.name} />
        <TextField label="Email" type="email" name="email" autoComplete="email" required value={email}
          onChange={(e) => setEmail(e.target.value)} error={register.fields.email} />
        <TextField label="Password" type="password" name="password" autoComplete="new-password" required
          minLength={8} hint="At least 8 characters." value={password}
          onChange={(e) => setPassword(e.target.value)} error={register.fields.password} />
        <button type="submit" disabled={register.pending}>
          {register.pending ? "Creating account…" : "Create account"}
        </button>
      </form>
      <p>
        Already have an account? <Link to="/login">Sign in</Link>
      </p>
    </section>
  );
}
