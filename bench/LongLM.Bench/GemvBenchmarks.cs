using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using LongLM.Kernels;
using LongLM.Kernels.Cpu;

namespace LongLM.Bench;

/// <summary>
/// One-row MatMul (decode GEMV) on the CPU backend for SmolLM-135M's projection shapes [out, in]. Throughput is
/// reported by BenchmarkDotNet; bytes per op = out * in * dtype size, so GB/s = bytes / mean time.
/// </summary>
[SimpleJob(warmupCount: 3, iterationCount: 15)]
public unsafe class GemvBenchmarks
{
    private CpuBackend _backend = null!;
    private DeviceBuffer _x = null!, _y = null!;
    private DeviceWeight _w = null!;
    private void* _memory;

    /// <summary>Output features x input features: q/o (576x576), k/v (192x576), gate/up (1536x576), down (576x1536), lm_head (49152x576).</summary>
    [Params("576x576", "192x576", "1536x576", "576x1536", "49152x576")]
    public string Shape { get; set; } = "576x576";

    /// <summary>Stored weight type.</summary>
    [Params(DType.F32, DType.BF16)]
    public DType DType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x').Select(int.Parse).ToArray();
        int rows = parts[0], cols = parts[1];
        long bytes = (long)rows * cols * DType.Size();
        _memory = NativeMemory.AlignedAlloc((nuint)bytes, 64);
        var random = new Random(1);
        var span = new Span<byte>(_memory, (int)bytes);
        random.NextBytes(span);
        // Random bytes can be NaN/Inf patterns; clear exponent top bits so values are finite and small.
        if (DType == DType.F32)
            foreach (ref var f in MemoryMarshal.Cast<byte, uint>(span)) f &= 0xBFFFFFFF;
        else
            foreach (ref var h in MemoryMarshal.Cast<byte, ushort>(span)) h &= 0xBFFF;
        _backend = new CpuBackend();
        _w = _backend.LoadWeight(new WeightView((nint)_memory, DType, rows, cols, Shape));
        _x = _backend.Allocate(cols);
        _y = _backend.Allocate(rows);
        _backend.Upload(Enumerable.Range(0, cols).Select(i => (float)Math.Sin(i)).ToArray(), _x);
    }

    [Benchmark]
    public void Gemv() => _backend.MatMul(_x, _w, null, _y, 1);

    [GlobalCleanup]
    public void Cleanup() => NativeMemory.AlignedFree(_memory);
}
