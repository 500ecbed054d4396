using LongLM.Kernels;
using LongLM.Kernels.Ops;

namespace LongLM.Tests.Kernels;

/// <summary>
/// The one-row decode GEMV (MatMul.Range with rows = 1: MatMulGemv's four-row kernel for F32 at Vector512, DotBFloat16
/// for BF16, widening into scratch for F16)
/// against MatMul.Reference (double accumulation over the widened weights; the expected values come from it), for
/// inner dimensions with and without a tail past the 32-value steps and output counts that leave a remainder of four;
/// and its split invariance: an output is bit-identical whichever range of outputs computes it.
/// </summary>
public sealed class GemvTests
{
    public static TheoryData<DType, int, int, bool> Shapes()
    {
        (int inDim, int outDim)[] shapes = [(1, 1), (31, 5), (32, 4), (33, 7), (64, 9), (100, 13), (576, 35), (1536, 6)];
        var data = new TheoryData<DType, int, int, bool>();
        foreach (var dtype in new[] { DType.F32, DType.BF16, DType.F16 })
            for (int s = 0; s < shapes.Length; s++)
                data.Add(dtype, shapes[s].inDim, shapes[s].outDim, s % 2 == 0);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void OneRow_MatchesReference(DType dtype, int inDim, int outDim, bool withBias)
    {
        var x = Inputs.Random(inDim, 31);
        using var w = new NativeWeight(Inputs.Random(outDim * inDim, 32), outDim, inDim, dtype);
        float[] bias = withBias ? Inputs.Random(outDim, 33) : [];
        var expected = new float[outDim];
        MatMul.Reference(x, 1, w.View, bias, expected);

        var y = new float[outDim];
        MatMul.Range(x, 1, w.View, bias, y, 0, outDim, new float[inDim]);
        Tolerance.AssertClose(expected, y, 1e-4f, 1e-4f, $"gemv {dtype} {inDim}->{outDim} bias={withBias}");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void OneRow_AnySplitOfOutputs_IsBitIdentical(DType dtype)
    {
        // Cuts inside groups of four: an output must come out the same from a group and from the remainder loop.
        const int inDim = 200, outDim = 23;
        var x = Inputs.Random(inDim, 41);
        using var w = new NativeWeight(Inputs.Random(outDim * inDim, 42), outDim, inDim, dtype);
        var bias = Inputs.Random(outDim, 43);
        var whole = new float[outDim];
        MatMul.Range(x, 1, w.View, bias, whole, 0, outDim, new float[inDim]);

        var pieces = new float[outDim];
        int[] cuts = [0, 1, 3, 8, 9, 14, 21, outDim];
        for (int c = 0; c + 1 < cuts.Length; c++)
            MatMul.Range(x, 1, w.View, bias, pieces, cuts[c], cuts[c + 1], new float[inDim]);
        Assert.True(whole.AsSpan().SequenceEqual(pieces), "an output split changed a value");
    }
}
