using System.Text;
using System.Text.RegularExpressions;
using MlTokenizers = Microsoft.ML.Tokenizers;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// A Hugging Face byte-level BPE <c>tokenizer.json</c> (GPT-2, GPT-NeoX, Llama 3, Qwen2). The pipeline is
/// HF's: added tokens are cut out first (special ones from the raw text, the others after normalising), the
/// rest is normalised and pre-tokenized here, and each pre-token is merged by Microsoft.ML.Tokenizers'
/// <see cref="MlTokenizers.BpeTokenizer"/> in byte-level mode.
/// </summary>
internal sealed class ByteLevelBpeModelTokenizer : ModelTokenizer
{
    private readonly MlTokenizers.BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _vocab;
    private readonly bool _ignoreMerges;
    private readonly TextNormalizer _normalizer;
    private readonly PreTokenizerPipeline _preTokenizer;
    private readonly AddedTokenMatcher _rawTokens;
    private readonly AddedTokenMatcher _normalizedTokens;
    private readonly AddedTokenMatcher _rawPlainTokens;
    private readonly AddedTokenMatcher _normalizedPlainTokens;
    private readonly byte[][] _tokenBytes;
    private readonly string _path;

    private ByteLevelBpeModelTokenizer(TokenizerJson json, MlTokenizers.BpeTokenizer bpe, byte[][] tokenBytes,
        int? bosId, int? eosId, bool addBos)
        : base(tokenBytes.Length, bosId, eosId, addBos)
    {
        _bpe = bpe;
        _vocab = json.Vocab;
        _ignoreMerges = json.IgnoreMerges;
        _normalizer = json.Normalizer;
        _preTokenizer = json.PreTokenizer;
        _rawTokens = new AddedTokenMatcher(json.AddedTokens.Where(t => !t.Normalized));
        _normalizedTokens = new AddedTokenMatcher(json.AddedTokens.Where(t => t.Normalized));
        // Chat prompts match special tokens separately (only where the template wrote them); the ordinary added
        // tokens still apply to all text.
        _rawPlainTokens = new AddedTokenMatcher(json.AddedTokens.Where(t => !t.Normalized && !t.Special));
        _normalizedPlainTokens = new AddedTokenMatcher(json.AddedTokens.Where(t => t.Normalized && !t.Special));
        SpecialTokenMatcher = new AddedTokenMatcher(json.AddedTokens.Where(t => t.Special));
        SpecialTokens = json.AddedTokens.Where(t => t.Special).GroupBy(t => t.Content, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().Id, StringComparer.Ordinal);
        _tokenBytes = tokenBytes;
        _path = json.Path;
    }

    public override string Kind => "bpe";

    /// <summary>Builds the tokenizer of a checked <paramref name="json"/>; <paramref name="config"/> may set BOS/EOS.</summary>
    /// <exception cref="TokenizerException">The library rejects the vocabulary or merges, or BOS/EOS name unknown tokens.</exception>
    public static ByteLevelBpeModelTokenizer Create(TokenizerJson json, TokenizerConfig? config)
    {
        MlTokenizers.BpeTokenizer bpe;
        try
        {
            bpe = MlTokenizers.BpeTokenizer.Create(new MlTokenizers.BpeOptions(json.Vocab)
            {
                Merges = json.Merges,
                ByteLevel = true,
                UnknownToken = json.UnknownToken,
                FuseUnknownTokens = json.FuseUnknown,
                ContinuingSubwordPrefix = json.ContinuingSubwordPrefix,
                EndOfWordSuffix = json.EndOfWordSuffix,
            });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Untrusted input: whatever the library trips over becomes one error that names the file.
            throw new TokenizerException($"'{json.Path}' has a BPE model Microsoft.ML.Tokenizers cannot build: {e.Message}", json.Path, e);
        }

        var resolver = new SpecialTokenResolver(json);
        int? bosId = config?.BosToken is { } bos ? resolver.Resolve(bos, config.Path)
            : json.Template?.LeadingToken is { } leading ? json.Template.LeadingId ?? resolver.Resolve(new TokenizerConfig.SpecialToken("post_processor template token", leading), json.Path)
            : null;
        int? eosId = config?.EosToken is { } eos ? resolver.Resolve(eos, config.Path) : null;

        // add_bos_token in tokenizer_config.json decides; else the post-processor template, as HF would run it.
        // With neither (Llama 3's tokenizer.json has only a ByteLevel post-processor), a configured BOS that is
        // not also the EOS exists only to open sequences: Meta's reference tokenizer always prepends it.
        // GPT-2-style files, whose one <|endoftext|> is both, get no BOS.
        bool addBos = config?.AddBosToken
            ?? (json.Template is not null ? json.Template.LeadingToken is not null : bosId is not null && bosId != eosId);

        var tokenBytes = BuildTokenBytes(json);
        foreach (int? special in (int?[])[bosId, eosId])
        {
            if (special is { } id)
            {
                if (id >= tokenBytes.Length)
                {
                    throw new TokenizerException($"'{json.Path}': BOS/EOS id {id} is outside the vocabulary [0, {tokenBytes.Length}).", json.Path);
                }

                tokenBytes[id] = [];
            }
        }

        return new ByteLevelBpeModelTokenizer(json, bpe, tokenBytes, bosId, eosId, addBos);
    }

    /// <summary>The bytes <paramref name="id"/> decodes to (empty for BOS, EOS and unused ids).</summary>
    internal byte[] TokenBytes(int id) => _tokenBytes[id];

    public override IReadOnlyDictionary<string, int> SpecialTokens { get; }

    private protected override AddedTokenMatcher SpecialTokenMatcher { get; }

    private protected override void EncodeText(string text, List<int> ids) => EncodeText(text, ids, _rawTokens, _normalizedTokens);

    private protected override void EncodePlainText(string text, List<int> ids) => EncodeText(text, ids, _rawPlainTokens, _normalizedPlainTokens);

    private void EncodeText(string text, List<int> ids, AddedTokenMatcher rawTokens, AddedTokenMatcher normalizedTokens)
    {
        if (rawTokens.IsEmpty)
        {
            EncodeNormalizable(text, ids, normalizedTokens);
            return;
        }

        var segments = new List<TextSegment>();
        rawTokens.Split(text, segments);
        foreach (var segment in segments)
        {
            if (segment.Token is { } token)
            {
                ids.Add(token.Id);
            }
            else
            {
                EncodeNormalizable(text.Substring(segment.Start, segment.Length), ids, normalizedTokens);
            }
        }
    }

    private protected override TokenTextDecoder CreateTextDecoder() => new ByteLevelTextDecoder(this);

    /// <summary>Normalises text free of raw-matched added tokens, then cuts out the normalised ones.</summary>
    private void EncodeNormalizable(string text, List<int> ids, AddedTokenMatcher normalizedTokens)
    {
        string normalized = _normalizer.Normalize(text);
        if (normalizedTokens.IsEmpty)
        {
            EncodeWords(normalized, ids);
            return;
        }

        var segments = new List<TextSegment>();
        normalizedTokens.Split(normalized, segments);
        foreach (var segment in segments)
        {
            if (segment.Token is { } token)
            {
                ids.Add(token.Id);
            }
            else
            {
                EncodeWords(normalized.Substring(segment.Start, segment.Length), ids);
            }
        }
    }

    private void EncodeWords(string text, List<int> ids)
    {
        foreach (string word in PreTokenize(text))
        {
            // ignore_merges (Llama 3, as in tiktoken): a word the vocabulary holds whole is one token,
            // even where the merge order would have split it differently.
            if (_ignoreMerges && _vocab.TryGetValue(ByteLevelAlphabet.Encode(word), out int id))
            {
                ids.Add(id);
                continue;
            }

            ids.AddRange(_bpe.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
        }
    }

    /// <summary>The pre-tokens of <paramref name="text"/>; a Split pattern that backtracks without end is the file's fault.</summary>
    private List<string> PreTokenize(string text)
    {
        try
        {
            return _preTokenizer.Split(text);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new TokenizerException(
                $"'{_path}': the pre-tokenizer pattern \"{e.Pattern}\" ran longer than {e.MatchTimeout.TotalSeconds:0.#} s on a {e.Input.Length}-character piece of the input (catastrophic backtracking); this tokenizer.json cannot be run safely.",
                _path, e);
        }
    }

    private static byte[][] BuildTokenBytes(TokenizerJson json)
    {
        int size = 0;
        foreach (int id in json.Vocab.Values)
        {
            size = Math.Max(size, id + 1);
        }

        foreach (var token in json.AddedTokens)
        {
            size = Math.Max(size, token.Id + 1);
        }

        var bytes = new byte[size][];
        Array.Fill(bytes, []);
        foreach (var (token, id) in json.Vocab)
        {
            bytes[id] = ByteLevelAlphabet.Decode(token);
        }

        // Added tokens are literal text, not byte-level spellings (NeoX's are runs of plain spaces).
        foreach (var token in json.AddedTokens)
        {
            bytes[token.Id] = Encoding.UTF8.GetBytes(token.Content);
        }

        return bytes;
    }

    /// <summary>Finds a BOS/EOS token's id among the added tokens, then in the vocabulary.</summary>
    private sealed class SpecialTokenResolver(TokenizerJson json)
    {
        private readonly Dictionary<string, int> _added = json.AddedTokens
            .GroupBy(t => t.Content, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().Id, StringComparer.Ordinal);

        public int? Resolve(TokenizerConfig.SpecialToken token, string path)
        {
            if (token.Content is not { } content)
            {
                return null;
            }

            if (_added.TryGetValue(content, out int id)
                || json.Vocab.TryGetValue(content, out id)
                || json.Vocab.TryGetValue(ByteLevelAlphabet.Encode(content), out id))
            {
                return id;
            }

            throw new TokenizerException(
                $"'{path}' names {token.Key} \"{content}\", which is neither an added token nor in the vocabulary of '{json.Path}'.",
                path);
        }
    }
}
