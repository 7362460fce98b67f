// The .proto files are imported as text (`with { type: 'text' }`) so they are inside the compiled binary.
declare module '*.proto' {
  const text: string;
  export default text;
}
