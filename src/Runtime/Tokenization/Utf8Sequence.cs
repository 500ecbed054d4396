namespace LongLM.Runtime.Tokenization;

/// <summary>What the bytes at the start of a buffer are, as UTF-8.</summary>
internal enum Utf8SequenceKind
{
    /// <summary>A whole well-formed character.</summary>
    Complete,
    /// <summary>The first byte cannot start a well-formed character, whatever follows.</summary>
    Invalid,
    /// <summary>A well-formed prefix of a character that needs more bytes.</summary>
    Incomplete,
}

/// <summary>Classifies one UTF-8 character by the well-formed byte sequences of Unicode table 3-7.</summary>
internal static class Utf8Sequence
{
    /// <summary>Classifies the character at the start of <paramref name="bytes"/> (non-empty).</summary>
    /// <param name="bytes">Bytes starting at a character boundary.</param>
    /// <param name="length">Byte length of the character when <see cref="Utf8SequenceKind.Complete"/>.</param>
    public static Utf8SequenceKind Classify(ReadOnlySpan<byte> bytes, out int length)
    {
        byte lead = bytes[0];
        byte secondMin = 0x80, secondMax = 0xBF;
        switch (lead)
        {
            case < 0x80:
                length = 1;
                return Utf8SequenceKind.Complete;
            case >= 0xC2 and <= 0xDF:
                length = 2;
                break;
            case 0xE0:
                length = 3;
                secondMin = 0xA0; // below is an overlong form
                break;
            case 0xED:
                length = 3;
                secondMax = 0x9F; // above are UTF-16 surrogates
                break;
            case >= 0xE1 and <= 0xEF:
                length = 3;
                break;
            case 0xF0:
                length = 4;
                secondMin = 0x90; // below is an overlong form
                break;
            case >= 0xF1 and <= 0xF3:
                length = 4;
                break;
            case 0xF4:
                length = 4;
                secondMax = 0x8F; // above is past U+10FFFF
                break;
            default:
                length = 0;
                return Utf8SequenceKind.Invalid;
        }

        for (int i = 1; i < length; i++)
        {
            if (i >= bytes.Length)
            {
                return Utf8SequenceKind.Incomplete;
            }

            byte min = i == 1 ? secondMin : (byte)0x80;
            byte max = i == 1 ? secondMax : (byte)0xBF;
            if (bytes[i] < min || bytes[i] > max)
            {
                length = 0;
                return Utf8SequenceKind.Invalid;
            }
        }

        return Utf8SequenceKind.Complete;
    }
}
