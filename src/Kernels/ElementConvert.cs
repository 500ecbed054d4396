using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LongLM.Kernels;

/// <summary>Widening of stored weight elements to float32.</summary>
public static class ElementConvert
{
    /// <summary>Widens <paramref name="source"/> (elements of <paramref name="dtype"/>) into <paramref name="destination"/>.</summary>
    public static void ToSingle(ReadOnlySpan<byte> source, DType dtype, Span<float> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case DType.BF16:
                BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case DType.Q8_0:
                Quant.BlockQ8_0.DequantizeRow(source, destination[..(source.Length / Quant.BlockQ8_0.BlockBytes * Quant.BlockQ8_0.BlockSize)]);
                break;
            case DType.Q4_0:
                Quant.BlockQ4_0.DequantizeRow(source, destination[..(source.Length / Quant.BlockQ4_0.BlockBytes * Quant.BlockQ4_0.BlockSize)]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype));
        }
    }

    /// <summary>bf16 is the high half of a float32: widening is a 16-bit left shift.</summary>
    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        var dst = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort s = ref MemoryMarshal.GetReference(source);
            ref uint d = ref MemoryMarshal.GetReference(dst);
            for (; i <= source.Length - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                Vector256.ShiftLeft(lo, 16).StoreUnsafe(ref d, (nuint)i);
                Vector256.ShiftLeft(hi, 16).StoreUnsafe(ref d, (nuint)(i + 8));
            }
        }
        for (; i < source.Length; i++) dst[i] = (uint)source[i] << 16;
    }

    /// <summary>Rounds float32 to bf16 with round-to-nearest-even (as PyTorch does); NaN stays NaN.</summary>
    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }
}
