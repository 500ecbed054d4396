using BenchmarkDotNet.Attributes;
using LongLM.Kernels;

namespace LongLM.Bench.Ops;

/// <summary>
/// y = x W^T on SmolLM-135M's projection shapes [out x in] (q/o, gate/up, down, the tied head), per stored or load-time quantized dtype, as a
/// decode GEMV (1 row) and a prefill GEMM (512 rows). FLOPs per op = 2 * rows * out * in.
/// </summary>
public class MatMulOps : OpBenchmark
{
    private DeviceBuffer _x = null!, _y = null!;
    private DeviceWeight _w = null!;

    /// <summary>Output features x input features.</summary>
    [Params("576x576", "1536x576", "576x1536", "49152x576")]
    public string Shape { get; set; } = "576x576";

    /// <summary>Stored weight type; q8_0/q4_0 as `--quantize` leaves them (the activation rows are quantized inside the op).</summary>
    [Params(DType.F32, DType.BF16, DType.F16, DType.Q8_0, DType.Q4_0)]
    public DType DType { get; set; }

    /// <summary>Activation rows (1: decode).</summary>
    [Params(1, 512)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Open();
        var dims = Shape.Split('x').Select(int.Parse).ToArray();
        _w = Weight(dims[0], dims[1], DType, seed: 1);
        _x = Random((long)Rows * dims[1], seed: 2);
        _y = Zeros((long)Rows * dims[0]);
    }

    [Benchmark]
    public void MatMul()
    {
        B.MatMul(_x, _w, null, _y, Rows);
        Sync(_y);
    }
}
