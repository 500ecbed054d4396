using System.Text;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// GPT-2's <c>bytes_to_unicode</c>: each byte is written as one printable character, so that byte-level BPE
/// vocabularies are plain strings. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves;
/// the other 68 bytes take U+0100, U+0101, ... in byte order (so ' ' is 'Ġ', '\n' is 'Ċ').
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly short[] s_charToByte = BuildCharToByte(s_byteToChar);

    /// <summary>The character that stands for <paramref name="value"/>.</summary>
    public static char ToChar(byte value) => s_byteToChar[value];

    /// <summary>The byte-level spelling of <paramref name="text"/>'s UTF-8 bytes.</summary>
    public static string Encode(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        return string.Create(utf8.Length, utf8, static (chars, bytes) =>
        {
            for (int i = 0; i < bytes.Length; i++)
            {
                chars[i] = s_byteToChar[bytes[i]];
            }
        });
    }

    /// <summary>
    /// The bytes a vocabulary token stands for. Like HF's ByteLevel decoder, a token with a character outside
    /// the alphabet is taken as its own UTF-8 text.
    /// </summary>
    public static byte[] Decode(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            int value = c < s_charToByte.Length ? s_charToByte[c] : -1;
            if (value < 0)
            {
                return Encoding.UTF8.GetBytes(token);
            }

            bytes[i] = (byte)value;
        }

        return bytes;
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static short[] BuildCharToByte(char[] byteToChar)
    {
        var map = new short[256 + 68];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++)
        {
            map[byteToChar[b]] = (short)b;
        }

        return map;
    }
}
