// A user's picture, or their initials when there is none or it does not load (Gravatar unreachable, say).
import { useState } from "react";

interface AvatarProps {
  url?: string | null;
  name: string;
  size: number;
}

export function Avatar({ url, name, size }: AvatarProps) {
  const [failed, setFailed] = useState(false);
  const className = size > 40 ? "avatar large" : "avatar";
  if (url && !failed) {
    return <img className={className} src={url} alt="" width={size} height={size} onError={() => setFailed(true)} />;
  }
  const initials = name
    .split(/[\s@._-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0]?.toUpperCase())
    .join("");
  return (
    <span className={`${className} initials`} aria-hidden="true">
      {initials || "?"}
    </span>
  );
}
