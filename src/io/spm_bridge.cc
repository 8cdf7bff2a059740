/* spm_bridge.cc: the T5 tokenizer (src/io/tokenizer.h) on libsentencepiece.
 *
 * The only C++ in lst. Every entry point is extern "C" and catches every
 * exception, so neither a C++ exception nor a sentencepiece status ever
 * crosses into C: both become an lst_err_t message and a -1/NULL return.
 *
 * T5 conventions layered on top of the plain SentencePiece model:
 *   - encode appends EOS (id 1);
 *   - the vocabulary is the model's pieces (32000) plus 100 sentinel ids,
 *     id = pieces + k is "<extra_id_{99-k}>", so the last id is extra_id_0;
 *   - decode stops at the first EOS, skips pad (0), and writes sentinels
 *     as their "<extra_id_N>" text (sentencepiece does not know them). */
#include <sentencepiece_processor.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "../core/fsfile.h"
#include "added_tokens.h"
#include "tokenizer.h"
}

namespace {

constexpr int kPadId = 0;
constexpr int kEosId = LST_TOKENIZER_EOS;
constexpr int kExtraIds = 100;

}  // namespace

struct lst_tokenizer {
    sentencepiece::SentencePieceProcessor sp;
    int n_pieces = 0; /* pieces in spiece.model; sentinels start here */
    std::vector<std::string> added; /* ids n_pieces + 100 + k: a tokenizer's added tokens */
};

namespace {

/* sentencepiece's darts_clone wraps a failed allocation in its own
 * exception ("failed to resize pool: std::bad_alloc"): out of memory too. */
bool out_of_memory(const std::exception &e) {
    return dynamic_cast<const std::bad_alloc *>(&e) || strstr(e.what(), "bad_alloc");
}

/* lst_fail is C and printf-like; keep the message bounded even if the
 * library returns something long. */
int fail_str(lst_err_t *err, const char *what, const std::string &detail) {
    return lst_fail(err, "%s: %.900s", what, detail.c_str());
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above
 * U+10FFFF, no truncated sequences. Returns the offset of the first bad
 * byte, or len if the whole buffer is valid. sentencepiece would otherwise
 * silently map bad bytes to U+FFFD / unk, hiding a corrupt input file. */
size_t utf8_invalid_at(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* range of the 2nd byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2, lo = 0xA0;
        } else if (c >= 0xE1 && c <= 0xEC) {
            need = 2;
        } else if (c == 0xED) {
            need = 2, hi = 0x9F; /* excludes surrogates */
        } else if (c >= 0xEE && c <= 0xEF) {
            need = 2;
        } else if (c == 0xF0) {
            need = 3, lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3, hi = 0x8F;
        } else {
            return i;
        }
        if (len - i <= need) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += need + 1;
    }
    return len;
}

/* A trained model always carries trainer_spec (field 2) and
 * normalizer_spec (field 3) after its pieces (field 1). A file cut off at a
 * piece boundary still parses, as a model with only the first pieces and
 * default normalization; the missing specs are how we catch it. Walks the
 * top level of the protobuf wire format by hand: sentencepiece does not
 * install its ModelProto header. */
bool has_both_specs(const std::string &pb) {
    const unsigned char *p = reinterpret_cast<const unsigned char *>(pb.data());
    size_t n = pb.size(), i = 0;
    auto varint = [&](uint64_t *v) {
        *v = 0;
        for (int shift = 0; i < n && shift < 64; shift += 7) {
            unsigned char b = p[i++];
            *v |= (uint64_t)(b & 0x7F) << shift;
            if (b < 0x80) return true;
        }
        return false;
    };
    bool trainer = false, normalizer = false;
    while (i < n) {
        uint64_t key, v;
        if (!varint(&key)) return false;
        switch (key & 7) {
        case 0: if (!varint(&v)) return false; break;
        case 1: if (n - i < 8) return false; i += 8; break;
        case 5: if (n - i < 4) return false; i += 4; break;
        case 2:
            if (!varint(&v) || v > n - i) return false;
            i += (size_t)v;
            break;
        default: return false;
        }
        if ((key >> 3) == 2) trainer = true;
        if ((key >> 3) == 3) normalizer = true;
    }
    return trainer && normalizer;
}

char *dup_c_string(const std::string &s, lst_err_t *err) {
    char *out = static_cast<char *>(lst_malloc(s.size() + 1, 1, err));
    if (!out) return nullptr;
    memcpy(out, s.data(), s.size());
    out[s.size()] = 0;
    return out;
}

/* Decodes one run of ordinary ids. A run that follows a sentinel keeps
 * its word-boundary space: sentencepiece strips the leading "▁" of the
 * first piece it decodes, which is right only at the start of the text. */
int decode_run(const lst_tokenizer_t *t, const std::vector<int> &run,
               bool after_sentinel, std::string *out, lst_err_t *err) {
    if (run.empty()) return 0;
    std::string text;
    auto st = t->sp.Decode(run, &text);
    if (!st.ok()) return fail_str(err, "sentencepiece decode failed", st.ToString());
    static const char kSpace[] = "\xE2\x96\x81"; /* U+2581, the "▁" */
    const std::string &first = t->sp.IdToPiece(run[0]);
    if (after_sentinel && first.compare(0, 3, kSpace) == 0 &&
        (text.empty() || text[0] != ' '))
        out->push_back(' ');
    out->append(text);
    return 0;
}

}  // namespace

extern "C" lst_tokenizer_t *lst_tokenizer_load(const char *path, lst_err_t *err) {
    if (!path) {
        lst_fail(err, "tokenizer model path is NULL");
        return nullptr;
    }
    try {
        /* Probe the file ourselves: sentencepiece's message for a missing
         * file is fine, but for a directory it reports a parse error. */
        FILE *f = lst_fopen_regular(path, err); /* a FIFO must not block */
        if (!f) {
            lst_fail_ctx(err, "tokenizer model");
            return nullptr;
        }
        char probe;
        errno = 0;
        size_t got = fread(&probe, 1, 1, f);
        int read_errno = ferror(f) ? (errno ? errno : EIO) : 0;
        fclose(f);
        if (read_errno) {
            lst_fail(err, "%s: cannot read tokenizer model: %s", path, strerror(read_errno));
            return nullptr;
        }
        if (got == 0) {
            lst_fail(err, "%s: tokenizer model file is empty", path);
            return nullptr;
        }

        /* unique_ptr: an exception from Load must not leak t. */
        std::unique_ptr<lst_tokenizer_t> t(new (std::nothrow) lst_tokenizer_t);
        if (!t) {
            lst_fail(err, "out of memory loading tokenizer %s", path);
            return nullptr;
        }
        auto st = t->sp.Load(path);
        if (!st.ok()) {
            lst_fail(err, "%s: not a valid SentencePiece model (%.800s)", path,
                     st.ToString().c_str());
            return nullptr;
        }
        t->n_pieces = t->sp.GetPieceSize();
        const char *why = nullptr;
        if (!has_both_specs(t->sp.serialized_model_proto()))
            why = "it has no trainer/normalizer spec (truncated file?)";
        else if (t->n_pieces <= kEosId || t->n_pieces > INT_MAX - kExtraIds)
            why = "its piece count is out of range";
        else if (t->sp.pad_id() != kPadId || t->sp.eos_id() != kEosId)
            why = "T5 needs pad id 0 and eos id 1";
        if (why) {
            lst_fail(err, "%s: not a usable T5 SentencePiece model: %s (%d pieces, pad id %d, "
                     "eos id %d)", path, why, t->n_pieces, t->sp.pad_id(), t->sp.eos_id());
            return nullptr;
        }
        lst_added_tokens_t a;
        if (lst_added_tokens_read(path, t->n_pieces + kExtraIds, &a, err)) return nullptr;
        for (int i = 0; i < a.n; i++) t->added.emplace_back(a.tok[i].text);
        lst_added_tokens_free(&a);
        return t.release();
    } catch (const std::exception &e) {
        if (out_of_memory(e))
            lst_fail(err, "%s: out of memory loading the tokenizer model (%.400s)", path, e.what());
        else
            lst_fail(err, "%s: loading tokenizer failed: %.800s", path, e.what());
    } catch (...) {
        lst_fail(err, "%s: loading tokenizer failed (unknown C++ exception)", path);
    }
    return nullptr;
}

extern "C" void lst_tokenizer_free(lst_tokenizer_t *t) {
    try {
        delete t;
    } catch (...) {
    }
}

extern "C" int lst_tokenizer_vocab_size(const lst_tokenizer_t *t) {
    return t ? t->n_pieces + kExtraIds + (int)t->added.size() : 0;
}

namespace {

/* Length of a "<extra_id_N>" sentinel (N 0..99 written without leading
 * zeros) at s[0, n), or 0. */
size_t sentinel_at(const char *s, size_t n, int *k) {
    static const char head[] = "<extra_id_";
    const size_t h = sizeof head - 1;
    if (n < h + 2 || memcmp(s, head, h)) return 0;
    size_t i = h;
    int v = 0, digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 3) v = v * 10 + (s[i++] - '0'), digits++;
    if (!digits || digits > 2 || (digits == 2 && s[h] == '0') || i >= n || s[i] != '>') return 0;
    *k = v;
    return i + 1;
}

/* Length of the longest added token at s[0, n) and its id, or 0. */
size_t added_at(const lst_tokenizer *t, const char *s, size_t n, int *id) {
    size_t best = 0;
    for (size_t k = 0; k < t->added.size(); k++) {
        const std::string &a = t->added[k];
        if (a.size() > best && a.size() <= n && !memcmp(s, a.data(), a.size())) {
            best = a.size();
            *id = t->n_pieces + kExtraIds + (int)k;
        }
    }
    return best;
}

/* The text's ids as transformers' T5 tokenizer gives them: each
 * "<extra_id_N>" is one id (the added tokens: pieces + 99 - N), as is each
 * token the tokenizer's files add (added_tokens.h), and the text between
 * them is encoded by sentencepiece piece by piece (each its own normalised
 * segment, as the added-token split does). */
sentencepiece::util::Status encode_with_sentinels(const lst_tokenizer *t, std::string_view text,
                                                  std::vector<int> *out) {
    size_t from = 0;
    for (size_t i = 0; i <= text.size(); i++) {
        int k = 0, id = -1;
        size_t m = i < text.size() && text[i] == '<' ? sentinel_at(text.data() + i, text.size() - i, &k) : 0;
        if (m) id = t->n_pieces + kExtraIds - 1 - k;
        int aid = -1;
        const size_t ma = i < text.size() ? added_at(t, text.data() + i, text.size() - i, &aid) : 0;
        if (ma > m) m = ma, id = aid;
        if (!m && i < text.size()) continue;
        if (i > from) {
            std::vector<int> seg;
            auto st = t->sp.Encode(text.substr(from, i - from), &seg);
            if (!st.ok()) return st;
            out->insert(out->end(), seg.begin(), seg.end());
        }
        if (!m) break;
        out->push_back(id);
        i += m - 1;
        from = i + 1;
    }
    return sentencepiece::util::Status();
}

}  // namespace

extern "C" int lst_tokenizer_encode(const lst_tokenizer_t *t, const char *text, size_t len,
                                    int32_t **ids, int *n, lst_err_t *err) {
    if (!t || !ids || !n || (!text && len)) return lst_fail(err, "tokenizer encode: NULL argument");
    *ids = nullptr;
    *n = 0;
    const unsigned char *u = reinterpret_cast<const unsigned char *>(text);
    size_t bad = utf8_invalid_at(u, len);
    if (bad < len)
        return lst_fail(err, "invalid UTF-8 in text at byte %zu (0x%02X)", bad, u[bad]);
    try {
        std::vector<int> v;
        auto st = encode_with_sentinels(t, std::string_view(text ? text : "", len), &v);
        if (!st.ok()) return fail_str(err, "sentencepiece encode failed", st.ToString());
        if (v.size() >= (size_t)INT_MAX) return lst_fail(err, "text too long to encode (%zu bytes)", len);
        int32_t *out = static_cast<int32_t *>(lst_malloc(v.size() + 1, sizeof(int32_t), err));
        if (!out) return -1;
        for (size_t i = 0; i < v.size(); i++) out[i] = v[i];
        out[v.size()] = kEosId;
        *ids = out;
        *n = (int)v.size() + 1;
        return 0;
    } catch (const std::exception &e) {
        if (out_of_memory(e)) return lst_fail(err, "out of memory encoding %zu bytes of text", len);
        return lst_fail(err, "tokenizer encode failed: %.800s", e.what());
    } catch (...) {
        return lst_fail(err, "tokenizer encode failed (unknown C++ exception)");
    }
}

extern "C" int lst_tokenizer_decode(const lst_tokenizer_t *t, const int32_t *ids, int n,
                                    char **text, lst_err_t *err) {
    if (!t || !text || (!ids && n > 0) || n < 0)
        return lst_fail(err, "tokenizer decode: bad arguments");
    *text = nullptr;
    const int vocab = lst_tokenizer_vocab_size(t), base = t->n_pieces + kExtraIds;
    /* Every id must be valid, even after EOS: a bad id means corrupt input. */
    int end = n;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= vocab)
            return lst_fail(err, "token id %d (position %d) is outside the vocabulary [0, %d)",
                            (int)ids[i], i, vocab);
        if (ids[i] == kEosId && end == n) end = i;
    }
    try {
        std::string out;
        std::vector<int> run;
        bool after_sentinel = false;
        for (int i = 0; i < end; i++) {
            int id = ids[i];
            if (id == kPadId) continue;
            if (id < t->n_pieces) {
                run.push_back(id);
                continue;
            }
            if (decode_run(t, run, after_sentinel, &out, err) != 0) return -1;
            run.clear();
            if (id >= base) out += t->added[(size_t)(id - base)];
            else out += "<extra_id_" + std::to_string(base - 1 - id) + ">";
            after_sentinel = true;
        }
        if (decode_run(t, run, after_sentinel, &out, err) != 0) return -1;
        *text = dup_c_string(out, err);
        return *text ? 0 : -1;
    } catch (const std::exception &e) {
        if (out_of_memory(e)) return lst_fail(err, "out of memory decoding %d ids", n);
        return lst_fail(err, "tokenizer decode failed: %.800s", e.what());
    } catch (...) {
        return lst_fail(err, "tokenizer decode failed (unknown C++ exception)");
    }
}
