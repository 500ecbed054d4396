using System.Text;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// HF's ByteLevel decoder, one id at a time: each token's bytes go through one incremental UTF-8 decoder,
/// which holds back an unfinished character and writes U+FFFD for each maximal invalid subsequence,
/// as Rust's <c>String::from_utf8_lossy</c> does on the whole byte string.
/// </summary>
internal sealed class ByteLevelTextDecoder : TokenTextDecoder
{
    private readonly ByteLevelBpeModelTokenizer _tokenizer;
    private readonly Decoder _utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();

    public ByteLevelTextDecoder(ByteLevelBpeModelTokenizer tokenizer)
    {
        _tokenizer = tokenizer;
    }

    public override void Append(int id, StringBuilder text)
    {
        _tokenizer.CheckId(id);
        Convert(_tokenizer.TokenBytes(id), flush: false, text);
    }

    public override void Finish(StringBuilder text) => Convert([], flush: true, text);

    private void Convert(ReadOnlySpan<byte> bytes, bool flush, StringBuilder text)
    {
        int count = _utf8.GetCharCount(bytes, flush);
        Span<char> chars = count <= 256 ? stackalloc char[count] : new char[count];
        int written = _utf8.GetChars(bytes, chars, flush);
        text.Append(chars[..written]);
    }
}
