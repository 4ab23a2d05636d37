// Imported FIRST by server.mjs: stdout is reserved for the single JSON ready line.
// oidc-provider prints notices with console.info (stdout), so route console.log/info/debug to stderr.
const toStderr = (...args) => console.error(...args);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

export function writeReadyLine(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}
