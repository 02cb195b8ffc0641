// Preloaded into the s3rver process (node --require) by startS3rver: makes its PutObject
// atomic, as S3's is. s3rver streams a new object's bytes straight into the object's file and
// writes its metadata after, and serves a file without metadata as a whole object: a relay
// killed mid-PutObject (the cluster tests kill relays mid-sync) left the first bytes of a chunk
// that s3rver then served as the chunk. AWS S3, MinIO, Garage and Ceph RGW store an object
// only once all of it arrived; so does s3rver with this: the body is read whole first, and a
// request cut off before its end stores nothing.
"use strict";
const FilesystemStore = require(require.resolve("s3rver/lib/stores/filesystem.js"));

const putObject = FilesystemStore.prototype.putObject;
FilesystemStore.prototype.putObject = async function atomicPutObject(object) {
  if (!Buffer.isBuffer(object.content)) {
    const chunks = [];
    // Rejects (or never ends) when the client goes away mid-body: nothing is written then.
    for await (const chunk of object.content) chunks.push(chunk);
    object.content = Buffer.concat(chunks);
  }
  return putObject.call(this, object);
};
