using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using LongLM.Kernels;
using LongLM.Models;

namespace LongLM.Bench.Ops;

/// <summary>
/// Base of the per-op suites (ggml's test-backend-ops perf mode, for LongLM's <see cref="IBackend"/>): each suite
/// times one backend op on fixed shapes, on every backend <see cref="OpBackends.Available"/> finds. Inputs are seeded
/// random values; every op ends with a one-float download, which on ILGPU waits for the kernel, so the time is the op's
/// and not just its launch.
/// </summary>
[Config(typeof(OpConfig))]
public abstract class OpBenchmark
{
    private readonly List<IDisposable> _owned = [];
    private readonly List<nint> _native = [];
    private readonly float[] _one = new float[1];

    /// <summary>The backend by its <c>--backend</c> name.</summary>
    [ParamsSource(nameof(BackendNames))]
    public string Backend { get; set; } = "cpu";

    /// <summary>Backends the suites run on.</summary>
    public static IEnumerable<string> BackendNames() => OpBackends.Available();

    /// <summary>The backend of this case (created by <see cref="Open"/>).</summary>
    protected IBackend B { get; private set; } = null!;

    /// <summary>Creates the backend; suites call it first in their GlobalSetup.</summary>
    protected void Open() => B = Own(Backends.Create(Backend));

    /// <summary>A buffer of <paramref name="length"/> seeded values in [-scale, scale].</summary>
    protected DeviceBuffer Random(long length, int seed, float scale = 1f)
    {
        return Upload(Values(length, seed, scale));
    }

    /// <summary>A buffer holding <paramref name="values"/>.</summary>
    protected DeviceBuffer Upload(float[] values)
    {
        var buffer = Own(B.Allocate(values.Length));
        B.Upload(values, buffer);
        return buffer;
    }

    /// <summary>A zeroed buffer.</summary>
    protected DeviceBuffer Zeros(long length) => Own(B.Allocate(length));

    /// <summary>A [rows, cols] weight of seeded values in [-scale, scale], stored (or block-quantized) as <paramref name="dtype"/> in native memory.</summary>
    protected unsafe DeviceWeight Weight(int rows, int cols, DType dtype, int seed, float scale = 0.05f)
    {
        var values = Values((long)rows * cols, seed, scale);
        long bytes = rows * dtype.RowByteLength(cols);
        nint memory = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        _native.Add(memory);
        switch (dtype)
        {
            case DType.Q8_0 or DType.Q4_0: // as load-time quantization writes them, row by row
                long rowBytes = dtype.RowByteLength(cols);
                for (int r = 0; r < rows; r++)
                {
                    var row = values.AsSpan((int)((long)r * cols), cols);
                    var block = new Span<byte>((byte*)memory + r * rowBytes, (int)rowBytes);
                    if (dtype == DType.Q8_0) LongLM.Kernels.Quant.BlockQ8_0.QuantizeRow(row, block);
                    else LongLM.Kernels.Quant.BlockQ4_0.QuantizeRow(row, block);
                }
                break;
            case DType.F32:
                values.CopyTo(new Span<float>((void*)memory, values.Length));
                break;
            case DType.BF16:
                var bf = new Span<ushort>((void*)memory, values.Length);
                for (int i = 0; i < values.Length; i++) bf[i] = ElementConvert.SingleToBFloat16(values[i]);
                break;
            case DType.F16:
                var h = new Span<Half>((void*)memory, values.Length);
                for (int i = 0; i < values.Length; i++) h[i] = (Half)values[i];
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "no benchmark weights for this dtype");
        }
        return Own(B.LoadWeight(new WeightView(memory, dtype, rows, cols, $"bench[{rows}x{cols}]")));
    }

    /// <summary>Waits for the backend: downloads one float of <paramref name="output"/>.</summary>
    protected void Sync(DeviceBuffer output) => B.Download(output, _one);

    /// <summary>Releases every buffer, weight and the backend.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
        foreach (var p in _native) unsafe { NativeMemory.AlignedFree((void*)p); }
        _native.Clear();
    }

    private T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    private static float[] Values(long length, int seed, float scale)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (long i = 0; i < length; i++) values[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        return values;
    }
}
