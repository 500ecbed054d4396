using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>Which two elements of a head form rotary pair k (k &lt; half = rotaryDim / 2).</summary>
public interface IRopePairing
{
    /// <summary>Index of the first element of pair k.</summary>
    int First(int k, int half);

    /// <summary>Index of the second element of pair k.</summary>
    int Second(int k, int half);
}

/// <summary>(x[k], x[k + d/2]): HF rotate_half (Llama, Mistral, Qwen2, GPT-NeoX, Phi).</summary>
public readonly struct HalfSplitPairing : IRopePairing
{
    /// <inheritdoc />
    public int First(int k, int half) => k;

    /// <inheritdoc />
    public int Second(int k, int half) => k + half;
}

/// <summary>(x[2k], x[2k + 1]): GPT-J.</summary>
public readonly struct InterleavedPairing : IRopePairing
{
    /// <inheritdoc />
    public int First(int k, int half) => 2 * k;

    /// <inheritdoc />
    public int Second(int k, int half) => 2 * k + 1;
}

/// <summary>Rotary position embedding (Su et al. 2021) with (cos, sin) precomputed by the host in double precision.</summary>
public static class RopeKernels
{
    /// <summary>
    /// Rotates the first rotaryDim dims of every head of x [rows, heads, headDim] in place; cosSin is
    /// [rows, rotaryDim/2, 2], the layout of <see cref="Ops.Rope.CosSin"/>. One thread per pair in a grid-stride
    /// loop over rows * heads * rotaryDim/2: consecutive threads take consecutive pairs of a head (coalesced) and
    /// each pair is read and written by one thread, so the update is in place without barriers.
    /// </summary>
    [KernelEntry(typeof(HalfSplitPairing), ExplicitlyGrouped = true)]
    [KernelEntry(typeof(InterleavedPairing), ExplicitlyGrouped = true)]
    public static void Rotate<TPairing>(ArrayView<float> x, ArrayView<float> cosSin, int rows, int heads, int headDim, int rotaryDim)
        where TPairing : struct, IRopePairing
    {
        var pairing = default(TPairing);
        int half = rotaryDim / 2, perRow = heads * half, total = rows * perRow;
        for (int i = Grid.GlobalIndex.X; i < total; i += Grid.DimX * Group.DimX)
        {
            int row = i / perRow, rest = i - row * perRow, head = rest / half, k = rest - head * half;
            int start = (row * heads + head) * headDim;
            int a = start + pairing.First(k, half), b = start + pairing.Second(k, half);
            int table = (row * half + k) * 2;
            float cos = cosSin[table], sin = cosSin[table + 1];
            float x0 = x[a], x1 = x[b];
            x[a] = x0 * cos - x1 * sin;
            x[b] = x1 * cos + x0 * sin;
        }
    }
}
