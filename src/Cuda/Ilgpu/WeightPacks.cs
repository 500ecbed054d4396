using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>
/// <see cref="Width"/> consecutive weight elements read with one memory access and widened to float32 in registers.
/// Kernels are generic over the pack (one instantiation per storage type and width), never copied per dtype.
/// </summary>
/// <remarks>
/// The x4 packs give 8-byte (16-bit types) and 16-byte (F32) loads per thread; they are used when a weight's
/// column count is a multiple of 4, so every row starts on a pack boundary. Otherwise the x1 packs are used.
/// </remarks>
public interface IWeightPack
{
    /// <summary>Elements per pack; a constant once the kernel is specialised.</summary>
    int Width { get; }

    /// <summary>Element <paramref name="k"/> (0 &lt;= k &lt; Width) as float32.</summary>
    float Get(int k);
}

/// <summary>One float32.</summary>
public struct F32x1 : IWeightPack
{
    /// <summary>The element.</summary>
    public float Value;

    /// <inheritdoc />
    public readonly int Width => 1;

    /// <inheritdoc />
    public readonly float Get(int k) => Value;
}

/// <summary>Four float32 as two 64-bit words (one 16-byte access).</summary>
public struct F32x4 : IWeightPack
{
    /// <summary>Elements 0 and 1.</summary>
    public ulong Low;
    /// <summary>Elements 2 and 3.</summary>
    public ulong High;

    /// <inheritdoc />
    public readonly int Width => 4;

    /// <inheritdoc />
    public readonly float Get(int k)
    {
        ulong word = k < 2 ? Low : High;
        return Interop.IntAsFloat((uint)(word >> (32 * (k & 1))));
    }
}

/// <summary>One IEEE binary16, stored as <see cref="ILGPU.Half"/>.</summary>
public struct F16x1 : IWeightPack
{
    /// <summary>The element.</summary>
    public ILGPU.Half Value;

    /// <inheritdoc />
    public readonly int Width => 1;

    /// <inheritdoc />
    public readonly float Get(int k) => Value;
}

/// <summary>Four binary16 in one 64-bit word.</summary>
public struct F16x4 : IWeightPack
{
    /// <summary>Element k in bits [16k, 16k + 16).</summary>
    public ulong Bits;

    /// <inheritdoc />
    public readonly int Width => 4;

    /// <inheritdoc />
    public readonly float Get(int k) => Interop.IntAsFloat((ushort)(Bits >> (16 * k)));
}

/// <summary>
/// One bfloat16. ILGPU has no bf16 type, so the device holds the raw bits as ushort and the kernel widens them:
/// bf16 is the high half of a float32, so widening is exact (a 16-bit shift and a reinterpret).
/// </summary>
public struct Bf16x1 : IWeightPack
{
    /// <summary>The raw bf16 bits.</summary>
    public ushort Bits;

    /// <inheritdoc />
    public readonly int Width => 1;

    /// <inheritdoc />
    public readonly float Get(int k) => Interop.IntAsFloat((uint)Bits << 16);
}

/// <summary>Four bfloat16 in one 64-bit word.</summary>
public struct Bf16x4 : IWeightPack
{
    /// <summary>Element k in bits [16k, 16k + 16).</summary>
    public ulong Bits;

    /// <inheritdoc />
    public readonly int Width => 4;

    /// <inheritdoc />
    public readonly float Get(int k) => Interop.IntAsFloat((uint)(Bits >> (16 * k)) << 16);
}
