using System.Text;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// The tokenizer of a Hugging Face model folder: SentencePiece (<c>tokenizer.model</c>) or byte-level BPE
/// (<c>tokenizer.json</c>), with the BOS/EOS conventions of <c>tokenizer_config.json</c>.
/// </summary>
/// <remarks>
/// <see cref="Encode(string, bool)"/> and <see cref="Decode"/> may be called from several threads at once;
/// a <see cref="StreamingDecoder"/> belongs to one sequence and one thread.
/// </remarks>
public abstract class ModelTokenizer
{
    private protected ModelTokenizer(int vocabSize, int? bosId, int? eosId, bool addBos)
    {
        VocabSize = vocabSize;
        BosId = bosId;
        EosId = eosId;
        AddBos = addBos && bosId is not null;
    }

    /// <summary>
    /// Loads the tokenizer of <paramref name="modelDirectory"/>: <c>tokenizer.json</c> when present, otherwise
    /// <c>tokenizer.model</c>; <c>tokenizer_config.json</c>, when present, supplies BOS/EOS and add_bos_token.
    /// </summary>
    /// <param name="modelDirectory">A Hugging Face model folder.</param>
    /// <returns>The tokenizer.</returns>
    /// <exception cref="TokenizerException">No tokenizer file, or one that does not parse or is unsupported.</exception>
    public static ModelTokenizer Load(string modelDirectory) => TokenizerLoader.Load(modelDirectory);

    /// <summary>"sentencepiece" or "bpe".</summary>
    public abstract string Kind { get; }

    /// <summary>Number of ids this tokenizer knows: one more than the largest id, added tokens included.</summary>
    public int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, or null when the tokenizer has none.</summary>
    public int? BosId { get; }

    /// <summary>End-of-sequence id, or null when the tokenizer has none.</summary>
    public int? EosId { get; }

    /// <summary>Whether <see cref="Encode(string)"/> prepends <see cref="BosId"/> (the model was trained that way).</summary>
    public bool AddBos { get; }

    /// <summary>Encodes <paramref name="text"/>, prepending BOS when <see cref="AddBos"/>. Never appends EOS.</summary>
    /// <param name="text">Text to encode.</param>
    /// <returns>Token ids.</returns>
    public int[] Encode(string text) => Encode(text, AddBos);

    /// <summary>Encodes <paramref name="text"/>. Never appends EOS.</summary>
    /// <param name="text">Text to encode.</param>
    /// <param name="addBos">Whether to prepend <see cref="BosId"/>.</param>
    /// <returns>Token ids.</returns>
    /// <exception cref="InvalidOperationException"><paramref name="addBos"/> is true but the tokenizer has no BOS.</exception>
    /// <exception cref="TokenizerException">A pre-tokenizer pattern from tokenizer.json ran past its match timeout.</exception>
    public int[] Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos)
        {
            ids.Add(BosId ?? throw new InvalidOperationException($"This {Kind} tokenizer has no BOS token to prepend."));
        }

        EncodeText(text, ids);
        return ids.ToArray();
    }

    /// <summary>
    /// Decodes ids to text. BOS and EOS decode to nothing; other special tokens decode to their text.
    /// Bytes that do not form valid UTF-8 decode to U+FFFD.
    /// </summary>
    /// <param name="ids">Token ids.</param>
    /// <returns>The text.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An id is negative or not below <see cref="VocabSize"/>.</exception>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var decoder = CreateTextDecoder();
        var text = new StringBuilder(ids.Length * 4);
        foreach (int id in ids)
        {
            decoder.Append(id, text);
        }

        decoder.Finish(text);
        return text.ToString();
    }

    /// <summary>Starts decoding one generated sequence token by token.</summary>
    /// <returns>A decoder whose pieces concatenate to <see cref="Decode"/> of the same ids.</returns>
    public StreamingDecoder CreateStreamingDecoder() => new(CreateTextDecoder());

    /// <summary>
    /// Control tokens by their text: the special added tokens of tokenizer.json, or the control pieces of a
    /// SentencePiece model. A chat template writes these as text; <see cref="EncodeChat"/> turns them into their ids.
    /// </summary>
    public abstract IReadOnlyDictionary<string, int> SpecialTokens { get; }

    /// <summary>
    /// Makes <paramref name="text"/> (a message's content, a tool's arguments: anything a user supplied) unable to
    /// produce a special id in <see cref="EncodeChat"/>: <paramref name="escape"/> goes after the first character of
    /// every special token's text in it, and <see cref="EncodeChat"/> drops it again, so the text still encodes as the
    /// same characters. <paramref name="escape"/> must not occur in the text (see <see cref="ChooseEscape"/>).
    /// </summary>
    public string EscapeSpecialTokens(string text, char escape)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (SpecialTokenMatcher.IsEmpty || text.Length == 0) return text;
        var segments = new List<TextSegment>();
        SpecialTokenMatcher.Split(text, segments);
        if (segments.TrueForAll(s => s.Token is null)) return text;
        var escaped = new StringBuilder(text.Length + segments.Count);
        foreach (var segment in segments)
        {
            if (segment.Token is { } token)
            {
                // The segment may include whitespace the token's lstrip/rstrip would swallow: keep it, break the token.
                int at = text.IndexOf(token.Content, segment.Start, segment.Length, StringComparison.Ordinal);
                escaped.Append(text, segment.Start, at - segment.Start + 1).Append(escape).Append(text, at + 1, segment.Start + segment.Length - at - 1);
            }
            else
            {
                escaped.Append(text, segment.Start, segment.Length);
            }
        }

        return escaped.ToString();
    }

    /// <summary>
    /// A private-use character that occurs in none of <paramref name="texts"/>, to mark escaped special-token text
    /// (<see cref="EscapeSpecialTokens"/>).
    /// </summary>
    /// <exception cref="TokenizerException">Every private-use character occurs (6400 of them: only hostile input does that).</exception>
    public static char ChooseEscape(IEnumerable<string> texts)
    {
        var seen = new HashSet<char>();
        foreach (string text in texts)
        {
            foreach (char c in text)
            {
                if (c is >= '\uE000' and <= '\uF8FF') seen.Add(c);
            }
        }

        for (char c = '\uE000'; c <= '\uF8FF'; c++)
        {
            if (!seen.Contains(c)) return c;
        }

        throw new TokenizerException("the conversation uses every private-use character, so none is left to mark escaped special-token text", "");
    }

    /// <summary>
    /// Encodes a chat prompt rendered by a chat template: special tokens' texts become their ids (the template's
    /// markers and its <c>bos_token</c>), all other text is encoded as text, and every <paramref name="escape"/>
    /// character is dropped (it marks user text escaped by <see cref="EscapeSpecialTokens"/>, which so encodes as
    /// plain characters). No BOS is added: the template writes it, as HF's <c>apply_chat_template</c> assumes.
    /// </summary>
    public int[] EncodeChat(string rendered, char? escape)
    {
        ArgumentNullException.ThrowIfNull(rendered);
        var ids = new List<int>(rendered.Length / 3 + 2);
        var segments = new List<TextSegment>();
        if (SpecialTokenMatcher.IsEmpty) segments.Add(new TextSegment(0, rendered.Length, null));
        else SpecialTokenMatcher.Split(rendered, segments);
        foreach (var segment in segments)
        {
            if (segment.Token is { } token)
            {
                ids.Add(token.Id);
                continue;
            }

            string text = rendered.Substring(segment.Start, segment.Length);
            if (escape is char e) text = text.Replace(e.ToString(), "", StringComparison.Ordinal);
            if (text.Length > 0) EncodePlainText(text, ids);
        }

        return ids.ToArray();
    }

    /// <summary>
    /// Whether a special token's text starts at <paramref name="index"/> of <paramref name="text"/>: text split there
    /// encodes the same in two pieces as in one (the special token's id stands alone), so a chat's new turn can be
    /// encoded on its own.
    /// </summary>
    public bool StartsWithSpecialToken(string text, int index)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (index < 0 || index >= text.Length || SpecialTokenMatcher.IsEmpty) return false;
        var segments = new List<TextSegment>();
        SpecialTokenMatcher.Split(text.Substring(index, Math.Min(text.Length - index, 256)), segments);
        return segments.Count > 0 && segments[0].Token is { LStrip: false } && segments[0].Start == 0;
    }

    /// <summary>Matches <see cref="SpecialTokens"/> in text (with the tokens' own lstrip/rstrip rules).</summary>
    private protected abstract AddedTokenMatcher SpecialTokenMatcher { get; }

    /// <summary>Appends the ids of <paramref name="text"/> (no BOS, no EOS) to <paramref name="ids"/>.</summary>
    private protected abstract void EncodeText(string text, List<int> ids);

    /// <summary>Appends the ids of <paramref name="text"/> with no special token matched (ordinary added tokens are).</summary>
    private protected abstract void EncodePlainText(string text, List<int> ids);

    /// <summary>A fresh decoding state for one sequence.</summary>
    private protected abstract TokenTextDecoder CreateTextDecoder();

    /// <summary>Throws when <paramref name="id"/> is outside [0, <see cref="VocabSize"/>).</summary>
    internal void CheckId(int id)
    {
        if ((uint)id >= (uint)VocabSize)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside this tokenizer's vocabulary [0, {VocabSize}).");
        }
    }
}
