// What a 3xx means to the router: an answer it does not act on, said so in the failure it reports.

export const isRedirect = (status: number): boolean => status >= 300 && status < 400;

/** Appended to a call site's own "answered <status>" so a refused redirect reads as such in logs and errors. */
export const redirectNote = (status: number): string => (isRedirect(status) ? ' (redirects are not followed)' : '');
