// Known answers: each primitive against published vectors or an independent implementation
// (Python's hashlib for BLAKE2b, the KDF and device ids), and against libsodium called directly.
import sodium from "libsodium-wrappers-sumo";
import { beforeAll, describe, expect, it } from "vitest";
import {
  chunkIdFromSha256,
  createSha256,
  deriveFolderSubkeys,
  deviceIdFromSignPublicKey,
  deviceIdentityFromSeeds,
  ready,
  sha256,
  signDetached,
  toHex,
  verifyDetached,
  xchachaOpen,
  xchachaSeal,
} from "../src/index.js";
import { hex, range, utf8 } from "./helpers.js";

beforeAll(async () => {
  await ready();
});

describe("SHA-256 (FIPS 180-2 examples)", () => {
  const vectors: Array<[string, string]> = [
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    [
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ],
  ];

  it.each(vectors)("sha256(%j)", (input, digest) => {
    expect(toHex(sha256(utf8(input)))).toBe(digest);
    expect(sha256(utf8(input))).toEqual(sodium.crypto_hash_sha256(utf8(input)));
  });

  it("incremental hashing over any split gives the same digest", () => {
    const data = utf8("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
    for (let cut = 0; cut <= data.length; cut += 7) {
      const h = createSha256();
      h.update(data.subarray(0, cut));
      h.update(data.subarray(cut));
      expect(toHex(h.digest())).toBe(vectors[2]?.[1]);
    }
  });
});

describe("XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03, A.3.1)", () => {
  const key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  const aad = hex("50515253c0c1c2c3c4c5c6c7");
  const plaintext = utf8(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const expected = hex(`
    bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
    731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
    2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
    21f9664c97637da9768812f615c68b13b52e
    c0875924c1c7987947deafd8780acf49`);

  it.each(["node", "sodium"] as const)(
    "%s path matches the published ciphertext and tag",
    (impl) => {
      const sealed = xchachaSeal(key, nonce, plaintext, aad, impl);
      expect(toHex(sealed)).toBe(toHex(expected));
      expect(xchachaOpen(key, nonce, sealed, aad, impl)).toEqual(plaintext);
    },
  );

  it("equals libsodium's crypto_aead_xchacha20poly1305_ietf_encrypt", () => {
    const reference = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
      plaintext,
      aad,
      null,
      nonce,
      key,
    );
    expect(xchachaSeal(key, nonce, plaintext, aad, "node")).toEqual(reference);
  });
});

describe("keyed BLAKE2b-256 chunk ids", () => {
  it("matches an independent BLAKE2b (Python hashlib)", () => {
    // hashlib.blake2b(bytes(32), digest_size=32, key=bytes(range(32))).hexdigest()
    expect(chunkIdFromSha256(range(32), new Uint8Array(32))).toBe(
      "dd081e9175db8c2ed7317715363a48445598d6f65a562f7f21581371916bec51",
    );
  });

  it("equals crypto_generichash with the chunk-id key", () => {
    const key = range(32, 100);
    const digest = sha256(utf8("chunk"));
    expect(chunkIdFromSha256(key, digest)).toBe(sodium.crypto_generichash(32, digest, key, "hex"));
  });
});

describe("folder subkeys (crypto_kdf, context weftfold, id = epoch*8 + n)", () => {
  // hashlib.blake2b(b"", digest_size=32, key=master, salt=id.to_bytes(8,"little")+bytes(8),
  //                 person=b"weftfold"+bytes(8)), the definition of crypto_kdf_derive_from_key.
  const master = range(32);

  it("epoch 0 gives the four subkeys in order", () => {
    const sub = deriveFolderSubkeys(master, 0);
    expect(toHex(sub.chunk)).toBe(
      "86b77ab551716fe4a08e06f0f3da247dff26a61710ee6b83132c2dcc7d3fa028",
    );
    expect(toHex(sub.chunkId)).toBe(
      "2fdb29199a6bf729dbd3d0bc84da6df0b876dc9692c510f52209ae9df1815c7b",
    );
    expect(toHex(sub.index)).toBe(
      "ca9bf1bbe70dca5632a968268ba41d8ea6bb81b522cc4e3afe5ca15c8797edbe",
    );
    expect(toHex(sub.names)).toBe(
      "2294682ec23a7e355802c2e3e32ec7c9ff65cdb4308f64ae7a4480c76fea1a43",
    );
  });

  it("mixes the epoch into the subkey id, up to the largest epoch", () => {
    expect(toHex(deriveFolderSubkeys(master, 7).index)).toBe(
      "e7f1c0f89b12149aafe7a69150cf9b23789e60e3af6030bcd318f00436d7f169",
    );
    // id (2^32 - 1) * 8 + 3 = 34359738363 is past 2^32: must not be truncated.
    expect(toHex(deriveFolderSubkeys(master, 0xffffffff).names)).toBe(
      "a44cd61c717d4448590e6bb4a3a7ca844c1fb2862bb6b9c0fdfba1d3170734b8",
    );
  });
});

describe("Ed25519 (RFC 8032 §7.1, test 1) and device ids", () => {
  const seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const publicKey = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const signature = hex(`
    e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b`);

  it("libsodium reproduces the RFC key pair and signature", () => {
    const kp = sodium.crypto_sign_seed_keypair(seed);
    expect(kp.publicKey).toEqual(publicKey);
    expect(sodium.crypto_sign_detached(new Uint8Array(0), kp.privateKey)).toEqual(signature);
  });

  it("a device identity from the RFC seed has the RFC public key and a known device id", () => {
    const id = deviceIdentityFromSeeds(seed, new Uint8Array(32));
    expect(id.signPublicKey).toEqual(publicKey);
    // Python: base64.b32encode(hashlib.sha256(pk).digest()[:20]), grouped by four.
    expect(id.deviceId).toBe("EH7D-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3KL");
    expect(deviceIdFromSignPublicKey(publicKey)).toBe(id.deviceId);
    expect(id.boxPublicKey).toEqual(sodium.crypto_box_seed_keypair(new Uint8Array(32)).publicKey);
  });

  it("signDetached signs 'weft-sig\\0' ‖ len ‖ context ‖ message", () => {
    const { privateKey } = sodium.crypto_sign_seed_keypair(seed);
    const message = utf8("hello");
    const signed = new Uint8Array([...utf8("weft-sig\0"), 4, ...utf8("test"), ...message]);
    const sig = signDetached("test", message, privateKey);
    expect(sig).toEqual(sodium.crypto_sign_detached(signed, privateKey));
    expect(verifyDetached("test", sig, message, publicKey)).toBe(true);
    expect(verifyDetached("other", sig, message, publicKey)).toBe(false);
    expect(verifyDetached("test", sig, utf8("hellp"), publicKey)).toBe(false);
  });
});
