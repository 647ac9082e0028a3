/** A user with every field set, the contract suites' usual record. */
export const alice = {
  id: 1,
  username: "alice",
  first_name: "Alice",
  last_name: "Liddell",
  language_code: "en",
};
