using LongLM.Kernels;
using LongLM.Kernels.Ops;

namespace LongLM.Tests.Kernels;

/// <summary>
/// Ops.Rope.Row (the cpu backend's per-row rotation: the table split into cos and sin vectors once, each head in a
/// few vector operations) against Ops.Rope.Head applied head by head, bit for bit (Head is checked against the double
/// reference and the algorithms.md vectors elsewhere), including partial rotary widths, widths that leave a scalar or
/// 4-wide tail, and interleaved pairing (which Row hands to Head).
/// </summary>
public sealed class RopeRowTests
{
    [Theory]
    [InlineData(8, 8, 8, RopePairing.HalfSplit)]      // stories260K: half 4, one Vector128 per head
    [InlineData(9, 64, 64, RopePairing.HalfSplit)]    // SmolLM: half 32, Vector256 only
    [InlineData(4, 128, 128, RopePairing.HalfSplit)]
    [InlineData(3, 24, 24, RopePairing.HalfSplit)]    // half 12: one Vector256 and one Vector128
    [InlineData(2, 22, 22, RopePairing.HalfSplit)]    // half 11: vector, then a scalar tail of 3
    [InlineData(4, 80, 32, RopePairing.HalfSplit)]    // partial rotary (Phi, GPT-NeoX): the rest of each head untouched
    [InlineData(2, 6, 6, RopePairing.HalfSplit)]      // half 3: the scalar path
    [InlineData(4, 64, 64, RopePairing.Interleaved)]  // GPT-J pairing
    public void Row_EqualsHeadByHead(int heads, int headDim, int rotaryDim, RopePairing pairing)
    {
        var row = Inputs.Random(heads * headDim, 3, 4f);
        var table = new float[rotaryDim];
        var frequencies = new double[rotaryDim / 2];
        for (int k = 0; k < frequencies.Length; k++) frequencies[k] = Math.Pow(10000, -2.0 * k / rotaryDim);
        Rope.CosSin(123_457, frequencies, table);
        var expected = (float[])row.Clone();
        for (int h = 0; h < heads; h++) Rope.Head(expected.AsSpan(h * headDim, headDim), table, rotaryDim, pairing);
        Rope.Row(row, heads, headDim, table, rotaryDim, pairing);
        Assert.True(expected.AsSpan().SequenceEqual(row), $"{heads}x{headDim} rotary {rotaryDim} {pairing}: Row differs from Head");
    }

    [Fact]
    public void Row_RefusesShortSpans() =>
        Assert.Throws<ArgumentException>(() => Rope.Row(new float[15], 2, 8, new float[8], 8, RopePairing.HalfSplit));
}
