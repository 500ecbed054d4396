using System.Text.Json;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// What LongLM takes from a Hugging Face <c>tokenizer.json</c> with a BPE model: vocabulary, merges, added
/// tokens, normaliser, pre-tokenizer and the BOS the post-processor template prepends.
/// </summary>
internal sealed class TokenizerJson
{
    private TokenizerJson(string path)
    {
        Path = path;
    }

    public string Path { get; }

    /// <summary>Why a well-formed file cannot be run (then the other members are empty), or null.</summary>
    public string? Unsupported { get; private init; }

    /// <summary>model.vocab: byte-level token text to id.</summary>
    public Dictionary<string, int> Vocab { get; private init; } = new(StringComparer.Ordinal);

    /// <summary>model.merges in rank order, each as "left right".</summary>
    public List<string> Merges { get; private init; } = [];

    public List<AddedToken> AddedTokens { get; private init; } = [];

    public TextNormalizer Normalizer { get; private init; } = TextNormalizer.Identity;

    public PreTokenizerPipeline PreTokenizer { get; private init; } = PreTokenizerPipeline.Create([]);

    /// <summary>model.ignore_merges: a pre-token found whole in the vocabulary is emitted without merging.</summary>
    public bool IgnoreMerges { get; private init; }

    public string? UnknownToken { get; private init; }

    public bool FuseUnknown { get; private init; }

    public string? ContinuingSubwordPrefix { get; private init; }

    public string? EndOfWordSuffix { get; private init; }

    /// <summary>The post-processor's TemplateProcessing, or null when there is none.</summary>
    public PostProcessorTemplate? Template { get; private init; }

    /// <summary>Reads and checks <paramref name="path"/>.</summary>
    /// <exception cref="TokenizerException">The file does not parse or lacks what a tokenizer needs.</exception>
    public static TokenizerJson Read(string path)
    {
        byte[] data = TokenizerLoader.ReadJsonBytes(path);
        try
        {
            using var document = JsonDocument.Parse(data);
            return Parse(path, document.RootElement);
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"'{path}' is not valid JSON: {e.Message}", path, e);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException)
        {
            // JsonElement accessors throw these when an entry has the wrong JSON kind.
            throw new TokenizerException($"'{path}' has an entry of the wrong kind: {e.Message}", path, e);
        }
    }

    private static TokenizerJson Parse(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Malformed(path, "the top level is not a JSON object");
        }

        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw Malformed(path, "it has no \"model\" section");
        }

        string modelType = model.TryGetProperty("type", out var type) ? type.GetString() ?? "" : model.TryGetProperty("merges", out _) ? "BPE" : "";
        if (modelType != "BPE")
        {
            return new TokenizerJson(path) { Unsupported = $"model type \"{modelType}\"; LongLM runs byte-level BPE tokenizer.json files (or tokenizer.model)." };
        }

        var normalizer = TokenizerJsonPipeline.ReadNormalizer(root, out string? unsupported);
        var preTokenizer = TokenizerJsonPipeline.ReadPreTokenizer(root, ref unsupported);
        if (unsupported is null && !preTokenizer!.IsByteLevel)
        {
            unsupported = "a BPE model without a ByteLevel pre-tokenizer (a SentencePiece-style conversion); LongLM runs byte-level BPE tokenizer.json files (or tokenizer.model).";
        }

        if (unsupported is not null)
        {
            return new TokenizerJson(path) { Unsupported = unsupported };
        }

        var vocab = ReadVocab(path, model);
        var addedTokens = ReadAddedTokens(path, root);
        var template = TokenizerJsonPipeline.ReadTemplate(root);
        CheckIdSpace(path, vocab, addedTokens, template);
        return new TokenizerJson(path)
        {
            Vocab = vocab,
            Merges = ReadMerges(path, model),
            AddedTokens = addedTokens,
            Normalizer = normalizer!,
            PreTokenizer = preTokenizer!,
            IgnoreMerges = OptionalBool(model, "ignore_merges") ?? false,
            UnknownToken = OptionalString(model, "unk_token"),
            FuseUnknown = OptionalBool(model, "fuse_unk") ?? false,
            ContinuingSubwordPrefix = OptionalString(model, "continuing_subword_prefix"),
            EndOfWordSuffix = OptionalString(model, "end_of_word_suffix"),
            Template = template,
        };
    }

    /// <summary>
    /// Ids index a dense table (one entry per id, as HF's vocab_size is the largest id + 1), so an id far beyond the
    /// number of tokens the file defines would allocate for tokens that do not exist (one id of 2e9 asks for a
    /// 2e9-entry table). Real tokenizers number their tokens densely from 0; gaps up to the token count are allowed.
    /// </summary>
    private static void CheckIdSpace(string path, Dictionary<string, int> vocab, List<AddedToken> addedTokens, PostProcessorTemplate? template)
    {
        long tokens = vocab.Count + addedTokens.Count;
        long limit = 2 * tokens + 1024;
        void Check(string what, long id)
        {
            if (id < 0 || id >= limit)
            {
                throw Malformed(path, $"{what} has the id {id}, outside [0, {limit}) for the {tokens} tokens the file defines (ids must be dense from 0)");
            }
        }

        foreach (var (token, id) in vocab)
        {
            Check($"model.vocab entry \"{token}\"", id);
        }

        foreach (var token in addedTokens)
        {
            Check($"added token \"{token.Content}\"", token.Id);
        }

        if (template?.LeadingId is int leading)
        {
            Check($"the post-processor template token \"{template.LeadingToken}\"", leading);
        }
    }

    private static Dictionary<string, int> ReadVocab(string path, JsonElement model)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
        {
            throw Malformed(path, "model.vocab is missing or not an object");
        }

        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject())
        {
            int id = entry.Value.GetInt32();
            if (id < 0)
            {
                throw Malformed(path, $"model.vocab gives \"{entry.Name}\" the negative id {id}");
            }

            result[entry.Name] = id;
        }

        if (result.Count == 0)
        {
            throw Malformed(path, "model.vocab is empty");
        }

        return result;
    }

    /// <summary>Merges as "a b" strings (older files) or ["a", "b"] pairs (tokenizers ≥ 0.20).</summary>
    private static List<string> ReadMerges(string path, JsonElement model)
    {
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
        {
            throw Malformed(path, "model.merges is missing or not an array");
        }

        var result = new List<string>(merges.GetArrayLength());
        foreach (var merge in merges.EnumerateArray())
        {
            string left, right;
            if (merge.ValueKind == JsonValueKind.String)
            {
                string text = merge.GetString()!;
                int space = text.IndexOf(' ', StringComparison.Ordinal);
                if (space <= 0 || space == text.Length - 1 || text.IndexOf(' ', space + 1) >= 0)
                {
                    throw Malformed(path, $"merge {result.Count} (\"{text}\") is not two tokens separated by one space");
                }

                left = text[..space];
                right = text[(space + 1)..];
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2)
            {
                left = merge[0].GetString() ?? "";
                right = merge[1].GetString() ?? "";
                if (left.Length == 0 || right.Length == 0 || left.Contains(' ', StringComparison.Ordinal) || right.Contains(' ', StringComparison.Ordinal))
                {
                    // Microsoft.ML.Tokenizers takes merges as "left right" lines; byte-level tokens never hold a space.
                    throw Malformed(path, $"merge {result.Count} has an empty part or a part containing a space");
                }
            }
            else
            {
                throw Malformed(path, $"merge {result.Count} is neither \"a b\" nor [\"a\", \"b\"]");
            }

            result.Add(left + " " + right);
        }

        return result;
    }

    private static List<AddedToken> ReadAddedTokens(string path, JsonElement root)
    {
        var result = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null)
        {
            return result;
        }

        foreach (var token in added.EnumerateArray())
        {
            int id = token.GetProperty("id").GetInt32();
            string content = token.GetProperty("content").GetString() ?? "";
            if (id < 0 || content.Length == 0)
            {
                throw Malformed(path, $"added token {result.Count} has a negative id or empty content");
            }

            bool special = OptionalBool(token, "special") ?? false;
            result.Add(new AddedToken(
                id, content, special,
                Normalized: OptionalBool(token, "normalized") ?? !special,
                LStrip: OptionalBool(token, "lstrip") ?? false,
                RStrip: OptionalBool(token, "rstrip") ?? false,
                SingleWord: OptionalBool(token, "single_word") ?? false));
        }

        return result;
    }

    internal static bool? OptionalBool(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;

    internal static string? OptionalString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static TokenizerException Malformed(string path, string problem) =>
        new($"'{path}' is not a usable tokenizer.json: {problem}.", path);
}
