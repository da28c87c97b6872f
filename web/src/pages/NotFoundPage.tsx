import { Link } from "react-router";
import { usePageTitle } from "../components/usePageTitle";

export default function NotFoundPage() {
  usePageTitle("Not found");
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is nothing here. <Link to="/boards">Go to your boards</Link>
      </p>
    </section>
  );
}
