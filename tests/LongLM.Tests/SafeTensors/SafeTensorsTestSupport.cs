using System.Buffers.Binary;
using System.Text;

namespace LongLM.Tests.SafeTensors;

/// <summary>
/// Builds safetensors files byte by byte (8-byte little-endian header length, JSON header, data section), so that
/// the corrupt-file tests do not depend on <c>SafeTensorsWriter</c>.
/// </summary>
public static class RawSafeTensors
{
    /// <summary>
    /// The file bytes for <paramref name="json"/> followed by <paramref name="data"/>. The header length written is
    /// the JSON's UTF-8 byte count unless <paramref name="headerLength"/> overrides it.
    /// </summary>
    public static byte[] Build(string json, byte[] data, ulong? headerLength = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(0, 8), headerLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>Just an 8-byte header length and nothing else (or <paramref name="tail"/> after it).</summary>
    public static byte[] LengthOnly(ulong headerLength, byte[]? tail = null)
    {
        tail ??= [];
        var bytes = new byte[8 + tail.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(0, 8), headerLength);
        tail.CopyTo(bytes, 8);
        return bytes;
    }

    /// <summary>Little-endian float32 bytes of <paramref name="values"/>.</summary>
    public static byte[] F32(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    /// <summary>The 8-byte little-endian header length stored at the start of <paramref name="file"/>.</summary>
    public static long HeaderLength(byte[] file) => (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
}
