using System.Text;

namespace LongLM.Tests.Fuzz;

/// <summary>
/// Seeded mutations of a JSON file that aim at what a loader trusts: values swapped for edge-case tokens (zero, negative,
/// int.MaxValue + 1, 1e400, NaN-looking text, control characters, an unpaired surrogate escape, the wrong JSON kind),
/// fields removed or duplicated, and, now and then, raw byte damage. Raw tokens are spliced in as text, so the file
/// can hold what no JSON writer would produce.
/// </summary>
internal sealed class JsonMutator(Random random)
{
    /// <summary>Edge-case value tokens, as they would appear in the file.</summary>
    public static readonly string[] Tokens =
    [
        "0", "-1", "1", "2", "3", "7", "0.5", "0.01", "-0.0", "1e-300", "1e400", "-1e400", "1e999", "2147483647",
        "2147483648", "-2147483648", "4294967296", "1000000000", "2000000000", "9.5", "1e9", "123456789012345678901234567890",
        "\"\"", "\"text\"", "\"\\u001b[2J\"", "\"\\ud800\"", "\"\\u0000\"", "\"(a+)+$\"", "\"(\"", "\"\\\\p{L}+\"", "\"llama\"", "\"mpt\"",
        "\"bloom\"", "\"BPE\"", "\"ByteLevel\"", "\"Split\"", "\"Sequence\"", "null", "true", "false", "[]", "{}", "[1, 2]",
        "[\"a\"]", "[null]", "{\"type\": \"Split\"}", "[[[[[[[[[[]]]]]]]]]]",
    ];

    /// <summary>Bytes that steer byte damage into interesting JSON rather than only into parse errors.</summary>
    private static readonly byte[] Interesting = "{}[]\":,-+.0123456789eE ntfu\\"u8.ToArray().Concat(new byte[] { 0x00, 0x1B, 0x7F, 0x80, 0xC0, 0xFF }).ToArray();

    public string Token() => Tokens[random.Next(Tokens.Length)];

    /// <summary>Overwrites 1 to 4 bytes of <paramref name="text"/>'s UTF-8 form.</summary>
    public byte[] DamageBytes(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits; e++)
        {
            int at = random.Next(bytes.Length);
            switch (random.Next(3))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes[at] = (byte)random.Next(256); break;
                default: bytes[at] = Interesting[random.Next(Interesting.Length)]; break;
            }
        }
        return bytes;
    }
}
