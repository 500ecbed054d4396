using System.Text;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// sentencepiece's <c>SentencePieceProcessor::Decode</c>, one id at a time:
/// control pieces (and the configured BOS/EOS) decode to nothing; an unknown piece to the unk surface;
/// "▁" to a space, except that the first piece of the text loses one leading "▁" (the dummy prefix that
/// encoding added); runs of byte pieces are joined and read as UTF-8, each invalid byte giving U+FFFD.
/// </summary>
internal sealed class SentencePieceTextDecoder : TokenTextDecoder
{
    private const char SpaceSymbol = '\u2581'; // "▁"

    private readonly SentencePieceModelTokenizer _tokenizer;
    private readonly SentencePieceModel _model;
    private readonly List<byte> _pendingBytes = new(4);

    // sentencepiece's is_bos_ws / bos_ws_seen / text.empty(): the leading "▁" is stripped from the first
    // non-byte piece only, and only while nothing has been written yet.
    private bool _isBosWhitespace = true;
    private bool _bosWhitespaceSeen;
    private bool _textEmpty = true;

    public SentencePieceTextDecoder(SentencePieceModelTokenizer tokenizer, SentencePieceModel model)
    {
        _tokenizer = tokenizer;
        _model = model;
    }

    public override void Append(int id, StringBuilder text)
    {
        _tokenizer.CheckId(id);
        if (_model.Types[id] == SentencePieceType.Byte)
        {
            _pendingBytes.Add(_tokenizer.ByteValues[id]);
            DrainBytes(text, final: false);
            return;
        }

        DrainBytes(text, final: true);
        if (_bosWhitespaceSeen || !_textEmpty)
        {
            _isBosWhitespace = false;
        }

        string decoded = DecodePiece(id, out _bosWhitespaceSeen);
        Write(decoded, text);
    }

    public override void Finish(StringBuilder text) => DrainBytes(text, final: true);

    private string DecodePiece(int id, out bool consumedBosWhitespace)
    {
        consumedBosWhitespace = false;
        var type = _model.Types[id];
        if (type == SentencePieceType.Control || id == _tokenizer.BosId || id == _tokenizer.EosId)
        {
            return "";
        }

        if (type == SentencePieceType.Unknown)
        {
            return _model.UnknownSurface;
        }

        ReadOnlySpan<char> piece = _model.Pieces[id];
        if (_isBosWhitespace && (_model.AddDummyPrefix || _model.RemoveExtraWhitespaces)
            && piece.Length > 0 && piece[0] == SpaceSymbol)
        {
            piece = piece[1..];
            // With remove_extra_whitespaces every leading "▁" piece is stripped, not only the first.
            consumedBosWhitespace = !_model.RemoveExtraWhitespaces;
        }

        return piece.ToString().Replace(SpaceSymbol, ' ');
    }

    /// <summary>
    /// Writes the complete characters in the pending byte run. Bytes that can no longer start a valid
    /// character become U+FFFD one by one; a valid prefix waits for more bytes unless the run is over.
    /// </summary>
    private void DrainBytes(StringBuilder text, bool final)
    {
        if (_pendingBytes.Count == 0)
        {
            return;
        }

        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pendingBytes);
        int offset = 0;
        while (offset < bytes.Length)
        {
            var kind = Utf8Sequence.Classify(bytes[offset..], out int length);
            if (kind == Utf8SequenceKind.Incomplete && !final)
            {
                break;
            }

            if (kind == Utf8SequenceKind.Complete)
            {
                Write(Encoding.UTF8.GetString(bytes.Slice(offset, length)), text);
                offset += length;
            }
            else
            {
                Write("\uFFFD", text);
                offset += 1;
            }
        }

        _pendingBytes.RemoveRange(0, offset);
    }

    private void Write(string decoded, StringBuilder text)
    {
        if (decoded.Length > 0)
        {
            text.Append(decoded);
            _textEmpty = false;
        }
    }
}
