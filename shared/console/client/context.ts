/** What every view gets from the shell. */
export interface Context {
  scope: 'read' | 'write';
  /** The server's clock (from /v1/health), so "12 min ago" agrees with the API whatever this machine's clock says. */
  now: () => string;
  /** Goes to an in-app path; `focus: false` keeps the focus where it is (a filter form, say). */
  navigate: (path: string, options?: { focus?: boolean; replace?: boolean }) => void;
  /** Says something in the polite live region (results of actions). */
  announce: (message: string) => void;
  /** The view's element, emptied before each render. */
  main: HTMLElement;
}
