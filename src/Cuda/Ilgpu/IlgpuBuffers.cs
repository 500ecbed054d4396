using ILGPU;
using ILGPU.Runtime;

namespace LongLM.Kernels.Ilgpu;

/// <summary>A zeroed float32 buffer in accelerator memory.</summary>
internal sealed class IlgpuBuffer : DeviceBuffer
{
    private readonly long _length;

    public IlgpuBuffer(Accelerator accelerator, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _length = length;
        // ILGPU rejects empty allocations; an empty buffer still owns one element.
        Memory = accelerator.Allocate1D<float>(Math.Max(1, length));
        Memory.MemSetToZero();
    }

    public MemoryBuffer1D<float, Stride1D.Dense> Memory { get; }

    public override long Length => _length;

    public override void Dispose()
    {
        Memory.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// A weight copied to accelerator memory. F32 stays float, F16 stays ILGPU Half and BF16 keeps its raw ushort
/// bits (ILGPU has no bf16 type; kernels widen with a shift, see <see cref="Bf16x1"/>); q8_0/q4_0 blocks are split
/// into scales and quants (<see cref="UploadQuantized"/>). One-row tensors (norms,
/// biases) are widened to float32 on upload, since kernels read them as float vectors.
/// </summary>
internal sealed class IlgpuWeight : DeviceWeight
{
    // Host-to-device copies go straight from the memory map in slices of this many bytes (no managed copy).
    private const long UploadChunkBytes = 64L << 20;

    private readonly MemoryBuffer _memory;
    private readonly ArrayView<byte> _bytes;
    private readonly MemoryBuffer1D<ushort, Stride1D.Dense>? _scaleMemory;

    public unsafe IlgpuWeight(Accelerator accelerator, WeightView view)
    {
        Rows = view.Rows;
        Cols = view.Cols;
        DType = view.DType;
        Name = view.Name;
        if (view.Rows == 1)
        {
            Storage = DType.F32;
            (_memory, _bytes) = Allocate<float>(accelerator, view.Cols);
            _bytes.Cast<float>().CopyFromCPU(view.ToFloat32());
            return;
        }
        Storage = view.DType;
        if (view.DType.IsQuantized())
        {
            (_memory, _bytes, _scaleMemory) = UploadQuantized(accelerator, view);
            return;
        }
        (_memory, _bytes) = view.DType switch
        {
            DType.F32 => Allocate<float>(accelerator, view.Length),
            DType.F16 => Allocate<ILGPU.Half>(accelerator, view.Length),
            DType.BF16 => Allocate<ushort>(accelerator, view.Length),
            _ => throw new ArgumentOutOfRangeException(nameof(view), $"weight '{view.Name}' has unsupported dtype {view.DType}"),
        };
        byte* source = (byte*)view.Pointer;
        for (long offset = 0; offset < view.ByteLength; offset += UploadChunkBytes)
        {
            int count = (int)Math.Min(UploadChunkBytes, view.ByteLength - offset);
            _bytes.SubView(offset, count).CopyFromCPU(new ReadOnlySpan<byte>(source + offset, count));
        }
    }

    /// <summary>
    /// ggml's blocks ({ fp16 d; quants }, 34 or 18 bytes) split into the scales (ushort per block) and the quants (16-byte
    /// quads, <see cref="IQuantFormat"/>), so the kernels' loads are aligned. Rows are repacked through two staging arrays
    /// of at most <see cref="UploadChunkBytes"/> (never the whole tensor on the host).
    /// </summary>
    private static unsafe (MemoryBuffer Quants, ArrayView<byte> QuantBytes, MemoryBuffer1D<ushort, Stride1D.Dense> Scales) UploadQuantized(Accelerator accelerator, WeightView view)
    {
        int blocksPerRow = view.Cols / Quant.BlockQ8_0.BlockSize, quantBytes = view.DType == DType.Q8_0 ? 32 : 16;
        int blockBytes = quantBytes + 2;
        long blocks = (long)view.Rows * blocksPerRow;
        var quants = accelerator.Allocate1D<Quad>(blocks * quantBytes / 16);
        var scales = accelerator.Allocate1D<ushort>(blocks);
        try
        {
            ArrayView<byte> quantView = ((ArrayView<Quad>)quants.View).Cast<byte>();
            int chunkRows = (int)Math.Clamp(UploadChunkBytes / ((long)blocksPerRow * blockBytes), 1, view.Rows);
            var quantStage = new byte[(long)chunkRows * blocksPerRow * quantBytes];
            var scaleStage = new ushort[chunkRows * blocksPerRow];
            byte* source = (byte*)view.Pointer;
            for (int row = 0; row < view.Rows; row += chunkRows)
            {
                int n = Math.Min(chunkRows, view.Rows - row) * blocksPerRow;
                long first = (long)row * blocksPerRow;
                for (int b = 0; b < n; b++)
                {
                    byte* block = source + (first + b) * blockBytes;
                    scaleStage[b] = *(ushort*)block;
                    new ReadOnlySpan<byte>(block + 2, quantBytes).CopyTo(quantStage.AsSpan(b * quantBytes, quantBytes));
                }
                quantView.SubView(first * quantBytes, (long)n * quantBytes).CopyFromCPU(quantStage.AsSpan(0, n * quantBytes));
                ((ArrayView<ushort>)scales.View).SubView(first, n).CopyFromCPU(scaleStage.AsSpan(0, n));
            }
            return (quants, quantView, scales);
        }
        catch
        {
            quants.Dispose();
            scales.Dispose();
            throw;
        }
    }

    private static (MemoryBuffer Memory, ArrayView<byte> Bytes) Allocate<T>(Accelerator accelerator, long length) where T : unmanaged
    {
        var buffer = accelerator.Allocate1D<T>(length);
        return (buffer, ((ArrayView<T>)buffer.View).Cast<byte>());
    }

    public override int Rows { get; }
    public override int Cols { get; }
    public override DType DType { get; }
    public override string Name { get; }

    /// <summary>What the device holds: <see cref="DType"/>, or F32 for widened one-row tensors.</summary>
    public DType Storage { get; }

    /// <summary>Elements per pack the kernels should read: 4 when every row starts on a 4-element boundary.</summary>
    public int PackWidth => Cols % 4 == 0 ? 4 : 1;

    /// <summary>The tensor as packs of <typeparamref name="TPack"/>.</summary>
    public ArrayView<TPack> Packs<TPack>() where TPack : unmanaged, IWeightPack => _bytes.Cast<TPack>();

    /// <summary>The quants of a q8_0/q4_0 weight as 16-byte quads (<see cref="UploadQuantized"/>).</summary>
    public ArrayView<Quad> Quants => _bytes.Cast<Quad>();

    /// <summary>The fp16 block scales of a q8_0/q4_0 weight (<see cref="UploadQuantized"/>).</summary>
    public ArrayView<ushort> Scales => _scaleMemory?.View ?? throw new InvalidOperationException($"weight '{Name}' is {Storage}, not block-quantized");

    /// <summary>The tensor as float32 (only for <see cref="Storage"/> F32).</summary>
    public ArrayView<float> Floats => _bytes.Cast<float>();

    public override void Dispose()
    {
        _memory.Dispose();
        _scaleMemory?.Dispose();
        base.Dispose();
    }
}
