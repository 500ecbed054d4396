using System.Globalization;
using System.Text;

namespace LongLM.Runtime.Tokenization;

/// <summary>SentencePiece piece types (sentencepiece_model.proto, <c>SentencePiece.Type</c>).</summary>
internal enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// What decoding needs from a <c>tokenizer.model</c> that Microsoft.ML.Tokenizers keeps internal:
/// each piece's text and type, and the normaliser flags behind sentencepiece's leading-space rule.
/// </summary>
/// <param name="Pieces">Piece text by id.</param>
/// <param name="Types">Piece type by id.</param>
/// <param name="AddDummyPrefix">normalizer_spec.add_dummy_prefix: encoding prepends "▁", decoding strips it.</param>
/// <param name="RemoveExtraWhitespaces">normalizer_spec.remove_extra_whitespaces.</param>
/// <param name="UnknownSurface">trainer_spec.unk_surface: the text an unknown piece decodes to.</param>
internal sealed record SentencePieceModel(
    string[] Pieces,
    SentencePieceType[] Types,
    bool AddDummyPrefix,
    bool RemoveExtraWhitespaces,
    string UnknownSurface)
{
    // ModelProto fields (sentencepiece_model.proto).
    private const int ModelPieces = 1, ModelTrainerSpec = 2, ModelNormalizerSpec = 3;
    private const int PieceText = 1, PieceType = 3;
    private const int TrainerUnknownSurface = 44;
    private const int NormalizerAddDummyPrefix = 3, NormalizerRemoveExtraWhitespaces = 4;

    /// <summary>sentencepiece's kDefaultUnknownSymbol: " ⁇ ".</summary>
    private const string DefaultUnknownSurface = " \u2047 ";

    /// <summary>Parses a serialised <c>ModelProto</c>.</summary>
    /// <exception cref="FormatException">The bytes are not a SentencePiece model.</exception>
    public static SentencePieceModel Parse(ReadOnlySpan<byte> data)
    {
        var pieces = new List<string>();
        var types = new List<SentencePieceType>();
        bool addDummyPrefix = true, removeExtraWhitespaces = true; // proto defaults
        string unknownSurface = DefaultUnknownSurface;

        var reader = new ProtobufReader(data);
        while (!reader.AtEnd)
        {
            reader.ReadTag(out int field, out int wire);
            if (field == ModelPieces && wire == ProtobufReader.WireLengthDelimited)
            {
                var (text, type) = ParsePiece(reader.ReadLengthDelimited(), pieces.Count);
                pieces.Add(text);
                types.Add(type);
            }
            else if (field == ModelTrainerSpec && wire == ProtobufReader.WireLengthDelimited)
            {
                unknownSurface = ParseTrainerSpec(reader.ReadLengthDelimited()) ?? unknownSurface;
            }
            else if (field == ModelNormalizerSpec && wire == ProtobufReader.WireLengthDelimited)
            {
                ParseNormalizerSpec(reader.ReadLengthDelimited(), ref addDummyPrefix, ref removeExtraWhitespaces);
            }
            else
            {
                reader.Skip(wire);
            }
        }

        if (pieces.Count == 0)
        {
            throw new FormatException("it holds no pieces");
        }

        return new SentencePieceModel(pieces.ToArray(), types.ToArray(), addDummyPrefix, removeExtraWhitespaces, unknownSurface);
    }

    /// <summary>The byte a <see cref="SentencePieceType.Byte"/> piece such as "&lt;0xE6&gt;" stands for.</summary>
    public static byte ByteValue(string piece, int id)
    {
        if (piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte value))
        {
            return value;
        }

        throw new FormatException($"byte piece {id} is \"{piece}\", not of the form <0xNN>");
    }

    private static (string Text, SentencePieceType Type) ParsePiece(ReadOnlySpan<byte> data, int id)
    {
        string text = "";
        var type = SentencePieceType.Normal;
        var reader = new ProtobufReader(data);
        while (!reader.AtEnd)
        {
            reader.ReadTag(out int field, out int wire);
            if (field == PieceText && wire == ProtobufReader.WireLengthDelimited)
            {
                text = DecodeUtf8(reader.ReadLengthDelimited(), $"piece {id}");
            }
            else if (field == PieceType && wire == ProtobufReader.WireVarint)
            {
                ulong raw = reader.ReadVarint();
                type = raw is >= 1 and <= 6 ? (SentencePieceType)raw : throw new FormatException($"piece {id} has unknown type {raw}");
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return (text, type);
    }

    private static string? ParseTrainerSpec(ReadOnlySpan<byte> data)
    {
        string? unknownSurface = null;
        var reader = new ProtobufReader(data);
        while (!reader.AtEnd)
        {
            reader.ReadTag(out int field, out int wire);
            if (field == TrainerUnknownSurface && wire == ProtobufReader.WireLengthDelimited)
            {
                unknownSurface = DecodeUtf8(reader.ReadLengthDelimited(), "trainer_spec.unk_surface");
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return unknownSurface;
    }

    private static void ParseNormalizerSpec(ReadOnlySpan<byte> data, ref bool addDummyPrefix, ref bool removeExtraWhitespaces)
    {
        var reader = new ProtobufReader(data);
        while (!reader.AtEnd)
        {
            reader.ReadTag(out int field, out int wire);
            if (field == NormalizerAddDummyPrefix && wire == ProtobufReader.WireVarint)
            {
                addDummyPrefix = reader.ReadVarint() != 0;
            }
            else if (field == NormalizerRemoveExtraWhitespaces && wire == ProtobufReader.WireVarint)
            {
                removeExtraWhitespaces = reader.ReadVarint() != 0;
            }
            else
            {
                reader.Skip(wire);
            }
        }
    }

    private static string DecodeUtf8(ReadOnlySpan<byte> bytes, string what)
    {
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new FormatException($"{what} is not valid UTF-8", e);
        }
    }
}
