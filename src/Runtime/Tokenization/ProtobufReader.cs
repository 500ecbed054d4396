using System.Buffers.Binary;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// Reads protobuf wire format field by field: just enough to walk a SentencePiece <c>ModelProto</c>.
/// Malformed input raises <see cref="FormatException"/>.
/// </summary>
internal ref struct ProtobufReader
{
    public const int WireVarint = 0;
    public const int WireFixed64 = 1;
    public const int WireLengthDelimited = 2;
    public const int WireFixed32 = 5;

    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public ProtobufReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    public readonly bool AtEnd => _position >= _data.Length;

    /// <summary>Reads the next field key.</summary>
    public void ReadTag(out int fieldNumber, out int wireType)
    {
        int offset = _position;
        ulong key = ReadVarint();
        fieldNumber = (int)(key >> 3);
        wireType = (int)(key & 7);
        if (fieldNumber == 0 || key >> 3 > int.MaxValue)
        {
            throw new FormatException($"invalid field number at byte {offset}");
        }

        if (wireType is not (WireVarint or WireFixed64 or WireLengthDelimited or WireFixed32))
        {
            throw new FormatException($"unsupported wire type {wireType} at byte {offset}");
        }
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (_position >= _data.Length)
            {
                throw new FormatException("truncated varint at end of data");
            }

            byte b = _data[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new FormatException($"varint longer than 10 bytes at byte {_position}");
    }

    public ReadOnlySpan<byte> ReadLengthDelimited()
    {
        int offset = _position;
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _position))
        {
            throw new FormatException($"field at byte {offset} claims {length} bytes but only {_data.Length - _position} remain");
        }

        var slice = _data.Slice(_position, (int)length);
        _position += (int)length;
        return slice;
    }

    public uint ReadFixed32()
    {
        if (_data.Length - _position < 4)
        {
            throw new FormatException("truncated fixed32 at end of data");
        }

        uint value = BinaryPrimitives.ReadUInt32LittleEndian(_data.Slice(_position, 4));
        _position += 4;
        return value;
    }

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case WireVarint:
                ReadVarint();
                break;
            case WireFixed64:
                if (_data.Length - _position < 8)
                {
                    throw new FormatException("truncated fixed64 at end of data");
                }

                _position += 8;
                break;
            case WireLengthDelimited:
                ReadLengthDelimited();
                break;
            case WireFixed32:
                ReadFixed32();
                break;
            default:
                throw new FormatException($"unsupported wire type {wireType}");
        }
    }
}
