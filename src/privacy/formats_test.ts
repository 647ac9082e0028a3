import assert from "node:assert/strict";
import {
  catalogOf,
  CORE_CATALOG,
  GROUPS,
  type Row,
  USERS,
} from "../base/tables.ts";
import { NOTES_DATA } from "../../examples/notes/data.ts";
import {
  csvColumns,
  csvHeader,
  csvRow,
  isoTime,
  jsonMembers,
  ndjsonLine,
} from "./formats.ts";

// Users and groups as one installation without plugins writes them.
const COLUMNS = csvColumns(CORE_CATALOG.tables);
const csvUser = (user: Row, exact = false) =>
  csvRow(USERS, COLUMNS, { exact })(user);
const csvGroup = (group: Row) => csvRow(GROUPS, COLUMNS)(group);
const userMembers = jsonMembers(USERS);
const groupMembers = jsonMembers(GROUPS);

Deno.test("without plugins the CSV header is the long-standing one", () => {
  assert.equal(
    csvHeader(CORE_CATALOG.tables),
    "kind,id,username,first_name,last_name,language_code,title,type,registered_at,seen_on\r\n",
  );
});

Deno.test("a plugin's columns join the CSV header after those already there, each before the next of its own table", () => {
  assert.equal(
    csvHeader(catalogOf([NOTES_DATA]).tables),
    "kind,id,username,first_name,last_name,language_code,title,type,registered_at,seen_on,chat_id,user_id,note_id,text,created_at,shared_at\r\n",
  );
});

Deno.test("a plugin's row is written under the merged header, kind first, other tables' columns empty", () => {
  const notes = catalogOf([NOTES_DATA]).tables;
  const shared = notes.find((table) => table.name === "notes_shared")!;
  const row = { chat_id: -5, user_id: 7, text: "=A1, hi", shared_at: 0 };
  assert.equal(
    csvRow(shared, csvColumns(notes))(row),
    `shared note,,,,,,,,,,-5,7,,"'=A1, hi",,1970-01-01T00:00:00Z\r\n`,
  );
  assert.equal(
    ndjsonLine(shared)(row),
    '{"kind":"shared note","chat_id":-5,"user_id":7,"text":"=A1, hi","shared_at":"1970-01-01T00:00:00Z"}\n',
  );
});

Deno.test("times are ISO 8601 UTC without fractions", () => {
  assert.equal(isoTime(1_795_960_800), "2026-11-29T14:00:00Z");
  assert.equal(isoTime(0), "1970-01-01T00:00:00Z");
});

Deno.test("CSV fields are quoted per RFC 4180 only when needed", () => {
  assert.equal(
    csvUser({
      id: 1,
      username: null,
      first_name: 'A "B", C',
      last_name: "x\r\ny",
      language_code: "en",
      registered_at: 0,
      seen_on: null,
    }),
    'user,1,,"A ""B"", C","x\r\ny",en,,,1970-01-01T00:00:00Z,\r\n',
  );
  assert.equal(
    csvGroup({
      id: -5,
      username: "g",
      title: "🦊",
      type: "group",
      registered_at: 0,
      seen_on: null,
    }),
    "group,-5,g,,,,🦊,group,1970-01-01T00:00:00Z,\r\n",
  );
});

Deno.test("JSON members are exactly what JSON.stringify writes, for any string", () => {
  const tricky = [
    "plain",
    'a "quote"',
    "back\\slash",
    "\u0000\u001f\t\n",
    "\u007f é ü",
    "🦊",
    "lone \ud800 high",
    "lone \udc00 low",
    "\u2028\u2029",
    "",
  ];
  for (const text of tricky) {
    const user = {
      id: 1,
      username: text,
      first_name: text,
      last_name: null,
      language_code: text,
      registered_at: 0,
      seen_on: null,
    };
    assert.equal(
      `{${userMembers(user)}}`,
      JSON.stringify({ ...user, registered_at: "1970-01-01T00:00:00Z" }),
      JSON.stringify(text),
    );
    const group = {
      id: -1,
      username: null,
      title: text,
      type: "group" as const,
      registered_at: 0,
      seen_on: null,
    };
    assert.equal(
      `{${groupMembers(group)}}`,
      JSON.stringify({ ...group, registered_at: "1970-01-01T00:00:00Z" }),
    );
  }
});

Deno.test("CSV cells a spreadsheet would run as formulas start with an apostrophe, ids and dates untouched", () => {
  const starts = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"];
  for (const start of starts) {
    const line = csvGroup({
      id: -1001,
      username: start,
      title: start,
      type: "supergroup",
      registered_at: 0,
      seen_on: null,
    });
    const cell = /[",\r\n]/.test(start) ? `"'${start}"` : `'${start}`;
    assert.equal(
      line,
      `group,-1001,${cell},,,,${cell},supergroup,1970-01-01T00:00:00Z,\r\n`,
    );
  }
  assert.equal(
    csvUser({
      id: 2,
      username: "a=b",
      first_name: "=cmd|' /C calc'!A0",
      last_name: null,
      language_code: "en",
      registered_at: 0,
      seen_on: null,
    }),
    "user,2,a=b,'=cmd|' /C calc'!A0,,en,,,1970-01-01T00:00:00Z,\r\n",
  );
});

Deno.test("exact CSV keeps a formula-like cell as stored", () => {
  assert.equal(
    csvUser({
      id: 2,
      username: null,
      first_name: "=1+1",
      last_name: null,
      language_code: null,
      registered_at: 0,
      seen_on: null,
    }, true),
    "user,2,,=1+1,,,,,1970-01-01T00:00:00Z,\r\n",
  );
});
