using System.Text;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// The decoding state of one sequence. Both <see cref="ModelTokenizer.Decode"/> and
/// <see cref="StreamingDecoder"/> run through it, so streamed pieces add up to the batch result by construction.
/// </summary>
internal abstract class TokenTextDecoder
{
    /// <summary>Adds <paramref name="id"/>; appends whatever text is now complete.</summary>
    public abstract void Append(int id, StringBuilder text);

    /// <summary>Ends the sequence; appends pending bytes (as U+FFFD where they are not valid UTF-8).</summary>
    public abstract void Finish(StringBuilder text);
}
