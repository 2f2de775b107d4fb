import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeCall, parseCall } from "../../src/gateway/telegram/params.js";

const none = new URLSearchParams();
const buf = (s: string) => Buffer.from(s);

// grammY's own multipart writer: lower-case headers, no spaces, unquoted file names.
function grammyMultipart(
  boundary: string,
  fields: [string, string][],
  file?: { id: string; name: string; data: string },
) {
  const parts = fields.map(([k, v]) => `content-disposition:form-data;name="${k}"\r\n\r\n${v}`);
  if (file) {
    parts.push(
      `content-disposition:form-data;name="${file.id}";filename=${file.name}\r\ncontent-type:application/octet-stream\r\n\r\n${file.data}`,
    );
  }
  return buf(`--${boundary}\r\n${parts.join(`\r\n--${boundary}\r\n`)}\r\n--${boundary}--\r\n`);
}

test("JSON body", () => {
  const r = parseCall("application/json", buf('{"chat_id":111,"text":"hi","reply_markup":{"a":1}}'), none);
  assert.ok(r.ok);
  assert.deepEqual(r.call, {
    params: { chat_id: 111, text: "hi", reply_markup: { a: 1 } },
    files: [],
    encoding: "json",
  });
  assert.equal(encodeCall(r.call).body.toString(), '{"chat_id":111,"text":"hi","reply_markup":{"a":1}}');
});

test("a duplicated JSON key is forwarded as the one value that was checked", () => {
  const r = parseCall(
    "application/json; charset=utf-8",
    buf('{"chat_id":111,"chat_id":999,"text":"x"}'),
    none,
  );
  assert.ok(r.ok);
  assert.equal(r.call.params.chat_id, 999);
  assert.equal(encodeCall(r.call).body.toString(), '{"chat_id":999,"text":"x"}');
});

test("escaped key names are decoded before checking", () => {
  const r = parseCall("application/json", buf('{"chat\\u005fid":999}'), none);
  assert.ok(r.ok);
  assert.equal(r.call.params.chat_id, 999);
});

test("query string only (GET)", () => {
  const r = parseCall(undefined, buf(""), new URLSearchParams("chat_id=111&text=hi"));
  assert.ok(r.ok);
  assert.deepEqual(r.call.params, { chat_id: "111", text: "hi" });
  assert.deepEqual(encodeCall(r.call), {
    contentType: "application/x-www-form-urlencoded",
    body: buf("chat_id=111&text=hi"),
  });
});

const refused: [string, string | undefined, string, string, RegExp][] = [
  [
    "same key in query and body",
    "application/json",
    '{"chat_id":111}',
    "chat_id=999",
    /given more than once/,
  ],
  [
    "keys that differ only in case",
    "application/json",
    '{"chat_id":111,"Chat_Id":999}',
    "",
    /given more than once/,
  ],
  [
    "form key twice",
    "application/x-www-form-urlencoded",
    "chat_id=111&chat_id=999",
    "",
    /given more than once/,
  ],
  ["JSON array", "application/json", "[1]", "", /not an object/],
  ["broken JSON", "application/json", "{", "", /unreadable/],
  ["unknown content type", "text/plain", "chat_id=1", "", /not a Bot API encoding/],
  ["multipart without boundary", "multipart/form-data", "--x\r\n", "", /without a boundary/],
];

for (const [name, type, body, query, reason] of refused) {
  test(`refused: ${name}`, () => {
    const r = parseCall(type, buf(body), new URLSearchParams(query));
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, reason);
  });
}

test("grammY multipart upload: fields and file parsed, re-encoded canonically, round trip", () => {
  const body = grammyMultipart(
    "grammyb0undary",
    [
      ["chat_id", "111"],
      ["caption", "a photo"],
      ["photo", "attach://f1"],
    ],
    { id: "f1", name: "my photo.jpg", data: "\u0000\u0001binary--grammyb0undar" },
  );
  const r = parseCall("multipart/form-data; boundary=grammyb0undary", body, none);
  assert.ok(r.ok, r.ok ? "" : r.reason);
  assert.deepEqual(r.call.params, { chat_id: "111", caption: "a photo", photo: "attach://f1" });
  assert.equal(r.call.files.length, 1);
  assert.equal(r.call.files[0]?.filename, "my photo.jpg");
  assert.equal(r.call.files[0]?.data.toString("latin1"), "\u0000\u0001binary--grammyb0undar");
  const out = encodeCall(r.call);
  assert.match(out.contentType, /^multipart\/form-data; boundary=moat[0-9a-f]{32}$/);
  const again = parseCall(out.contentType, out.body, none);
  assert.ok(again.ok);
  assert.deepEqual(again.call, r.call);
});

test("standard multipart (quoted names, capitalised headers) parses too", () => {
  const body = buf(
    '--b\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n111\r\n' +
      '--b\r\nContent-Disposition: form-data; name="document"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n',
  );
  const r = parseCall('multipart/form-data; boundary="b"', body, none);
  assert.ok(r.ok, r.ok ? "" : r.reason);
  assert.deepEqual(r.call.params, { chat_id: "111" });
  assert.deepEqual(r.call.files[0]?.contentType, "text/plain");
});

const badMultipart: [string, string, RegExp][] = [
  [
    "same field twice",
    '--b\r\ncontent-disposition:form-data;name="chat_id"\r\n\r\n111\r\n--b\r\ncontent-disposition:form-data;name="chat_id"\r\n\r\n999\r\n--b--\r\n',
    /more than once/,
  ],
  [
    "field and file with one name",
    '--b\r\ncontent-disposition:form-data;name="x"\r\n\r\n1\r\n--b\r\ncontent-disposition:form-data;name="x";filename=a\r\n\r\n2\r\n--b--\r\n',
    /more than once/,
  ],
  [
    "name given twice in one header",
    '--b\r\ncontent-disposition:form-data;name="chat_id";name="x"\r\n\r\n1\r\n--b--\r\n',
    /given twice/,
  ],
  [
    "extended name*",
    "--b\r\ncontent-disposition:form-data;name*=UTF-8''chat_id\r\n\r\n1\r\n--b--\r\n",
    /extended/,
  ],
  [
    "header repeated",
    '--b\r\ncontent-disposition:form-data;name="a"\r\ncontent-disposition:form-data;name="chat_id"\r\n\r\n1\r\n--b--\r\n',
    /repeated/,
  ],
  ["no end delimiter", '--b\r\ncontent-disposition:form-data;name="a"\r\n\r\n1', /without an end/],
  ["not form-data", '--b\r\ncontent-disposition:attachment;name="a"\r\n\r\n1\r\n--b--\r\n', /not form-data/],
  [
    "quote in file name",
    '--b\r\ncontent-disposition:form-data;name="f";filename=a"b\r\n\r\n1\r\n--b--\r\n',
    /file name/,
  ],
  [
    "odd field name",
    '--b\r\ncontent-disposition:form-data;name="chat id"\r\n\r\n1\r\n--b--\r\n',
    /field name/,
  ],
];

for (const [name, body, reason] of badMultipart) {
  test(`multipart refused: ${name}`, () => {
    const r = parseCall("multipart/form-data; boundary=b", buf(body), none);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, reason);
  });
}
