using MlTokenizers = Microsoft.ML.Tokenizers;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// A SentencePiece <c>tokenizer.model</c> (Llama 1/2, Mistral, TinyLlama, llama2.c). Encoding is
/// Microsoft.ML.Tokenizers' <see cref="MlTokenizers.LlamaTokenizer"/>; decoding follows sentencepiece's rules
/// in <see cref="SentencePieceTextDecoder"/> so that it can also run one id at a time.
/// </summary>
internal sealed class SentencePieceModelTokenizer : ModelTokenizer
{
    private readonly MlTokenizers.SentencePieceTokenizer _encoder;
    private readonly SentencePieceModel _model;

    private SentencePieceModelTokenizer(
        MlTokenizers.SentencePieceTokenizer encoder, SentencePieceModel model, byte[] byteValues,
        int? bosId, int? eosId, bool addBos)
        : base(model.Pieces.Length, bosId, eosId, addBos)
    {
        _encoder = encoder;
        _model = model;
        ByteValues = byteValues;
        // sentencepiece never matches control pieces in text; HF's LlamaTokenizer does (its special tokens), and a
        // chat template writes them as text ("<s>[INST] ..."), so chat prompts match these.
        var special = new List<AddedToken>();
        for (int id = 0; id < model.Pieces.Length; id++)
        {
            if (model.Types[id] is SentencePieceType.Control or SentencePieceType.Unknown && model.Pieces[id].Length > 0)
            {
                special.Add(new AddedToken(id, model.Pieces[id], Special: true, Normalized: false, LStrip: false, RStrip: false, SingleWord: false));
            }
        }

        SpecialTokenMatcher = new AddedTokenMatcher(special);
        SpecialTokens = special.GroupBy(t => t.Content, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Id, StringComparer.Ordinal);
    }

    public override IReadOnlyDictionary<string, int> SpecialTokens { get; }

    private protected override AddedTokenMatcher SpecialTokenMatcher { get; }

    private protected override void EncodePlainText(string text, List<int> ids) => EncodeText(text, ids);

    public override string Kind => "sentencepiece";

    /// <summary>The byte each <see cref="SentencePieceType.Byte"/> piece stands for, by id (0 elsewhere).</summary>
    internal byte[] ByteValues { get; }

    /// <summary>Reads <paramref name="path"/>; <paramref name="config"/> may override BOS/EOS and add_bos_token.</summary>
    /// <exception cref="TokenizerException">The file is not a SentencePiece model, or the config names unknown tokens.</exception>
    public static SentencePieceModelTokenizer Load(string path, TokenizerConfig? config)
    {
        byte[] data = TokenizerLoader.ReadAllBytes(path);
        SentencePieceModel model;
        byte[] byteValues;
        MlTokenizers.SentencePieceTokenizer encoder;
        try
        {
            model = SentencePieceModel.Parse(data);
            byteValues = new byte[model.Pieces.Length];
            for (int id = 0; id < model.Pieces.Length; id++)
            {
                if (model.Types[id] == SentencePieceType.Byte)
                {
                    byteValues[id] = SentencePieceModel.ByteValue(model.Pieces[id], id);
                }
            }

            using var stream = new MemoryStream(data, writable: false);
            encoder = MlTokenizers.LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The file is untrusted input: whatever the protobuf parser or the library trips over, the
            // caller gets one error that names the file.
            throw new TokenizerException($"'{path}' is not a valid SentencePiece model: {e.Message}", path, e);
        }

        var pieceIds = new Dictionary<string, int>(model.Pieces.Length, StringComparer.Ordinal);
        for (int id = model.Pieces.Length - 1; id >= 0; id--)
        {
            pieceIds[model.Pieces[id]] = id;
        }

        int? bosId = ResolveSpecial(config, config?.BosToken, pieceIds, ModelId(encoder.BeginningOfSentenceId, model));
        int? eosId = ResolveSpecial(config, config?.EosToken, pieceIds, ModelId(encoder.EndOfSentenceId, model));

        // sentencepiece itself leaves BOS to the caller; Llama-family models were trained with it, and
        // transformers' LlamaTokenizer defaults add_bos_token to true.
        bool addBos = config?.AddBosToken ?? true;
        return new SentencePieceModelTokenizer(encoder, model, byteValues, bosId, eosId, addBos);
    }

    private protected override void EncodeText(string text, List<int> ids)
    {
        if (text.Length == 0)
        {
            return;
        }

        ids.AddRange(_encoder.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false));
    }

    private protected override TokenTextDecoder CreateTextDecoder() => new SentencePieceTextDecoder(this, _model);

    /// <summary>The model's own BOS/EOS id, or null when the model defines none.</summary>
    private static int? ModelId(int id, SentencePieceModel model) => id >= 0 && id < model.Pieces.Length ? id : null;

    /// <summary>The config's token when it names one (null when it sets none), else the model's own id.</summary>
    private static int? ResolveSpecial(TokenizerConfig? config, TokenizerConfig.SpecialToken? token,
        Dictionary<string, int> pieceIds, int? modelId)
    {
        if (config is null || token is null)
        {
            return modelId;
        }

        if (token.Content is null)
        {
            return null;
        }

        return pieceIds.TryGetValue(token.Content, out int id)
            ? id
            : throw new TokenizerException(
                $"'{config.Path}' names {token.Key} \"{token.Content}\", which is not a piece of the SentencePiece model.",
                config.Path);
    }
}
