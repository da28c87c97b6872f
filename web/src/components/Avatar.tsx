/**
 * Initials in a coloured circle; the full name is the accessible label. The lightness (30%)
 * keeps white text at 4.5:1 or more on every hue (yellows and greens are the lightest).
 */
export function Avatar({ name, userId, size = "md" }: { name: string; userId: string; size?: "sm" | "md" }) {
  const initials = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]?.toUpperCase())
    .join("");
  let hash = 0;
  for (const ch of userId) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return (
    <span className={`avatar avatar-${size}`} style={{ backgroundColor: `hsl(${hash % 360} 55% 30%)` }} title={name} role="img" aria-label={name}>
      {initials || "?"}
    </span>
  );
}
