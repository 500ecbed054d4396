using System.Text;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// Turns generated ids into text one id at a time. Concatenating every <see cref="Push"/> result and a final
/// <see cref="Flush"/> gives exactly <see cref="ModelTokenizer.Decode"/> of the same ids.
/// </summary>
/// <remarks>Not thread-safe: one decoder per sequence.</remarks>
public sealed class StreamingDecoder
{
    private readonly TokenTextDecoder _decoder;
    private readonly StringBuilder _piece = new();

    internal StreamingDecoder(TokenTextDecoder decoder)
    {
        _decoder = decoder;
    }

    /// <summary>
    /// Adds one id and returns the text it completes. Returns "" while the id only adds bytes of a UTF-8
    /// character that later ids finish (SentencePiece byte-fallback pieces, byte-level BPE fragments).
    /// </summary>
    /// <param name="id">The next token id.</param>
    /// <returns>The new text, possibly empty.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public string Push(int id)
    {
        _piece.Clear();
        _decoder.Append(id, _piece);
        return _piece.ToString();
    }

    /// <summary>
    /// Ends the sequence: bytes still waiting for the rest of a UTF-8 character come out as U+FFFD, as
    /// <see cref="ModelTokenizer.Decode"/> would write them. Returns "" when nothing is waiting.
    /// </summary>
    /// <returns>The remaining text.</returns>
    public string Flush()
    {
        _piece.Clear();
        _decoder.Finish(_piece);
        return _piece.ToString();
    }
}
