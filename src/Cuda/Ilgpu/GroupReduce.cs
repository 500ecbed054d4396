using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>An associative reduction: an identity and a combine step (the operator-struct pattern of TensorPrimitives).</summary>
public interface IReduceOperation<T> where T : unmanaged
{
    /// <summary>The neutral element.</summary>
    T Identity { get; }

    /// <summary>Combines two partial results.</summary>
    T Combine(T left, T right);
}

/// <summary>Float sum.</summary>
public readonly struct SumOperation : IReduceOperation<float>
{
    /// <inheritdoc />
    public float Identity => 0f;

    /// <inheritdoc />
    public float Combine(float left, float right) => left + right;
}

/// <summary>A running softmax normaliser: the maximum seen and the sum of exp(x - Max) (Milakov and Gimelshein 2018).</summary>
public struct MaxSum
{
    /// <summary>Largest value so far (-inf when empty).</summary>
    public float Max;
    /// <summary>Sum of exp(x - Max) over the values seen.</summary>
    public float Sum;

    /// <summary>Adds one value.</summary>
    public readonly MaxSum Add(float x)
    {
        if (!(x > float.NegativeInfinity)) return this;
        // One exp per value: rescale the running sum only when the maximum moves.
        return x > Max
            ? new MaxSum { Max = x, Sum = Sum * DeviceMath.Exp(Max - x) + 1f }
            : new MaxSum { Max = Max, Sum = Sum + DeviceMath.Exp(x - Max) };
    }
}

/// <summary>Merges two <see cref="MaxSum"/> partials, rescaling both to the larger maximum.</summary>
public readonly struct MaxSumOperation : IReduceOperation<MaxSum>
{
    /// <inheritdoc />
    public MaxSum Identity => new() { Max = float.NegativeInfinity, Sum = 0f };

    /// <inheritdoc />
    public MaxSum Combine(MaxSum left, MaxSum right)
    {
        // An empty side (Max = -inf) contributes nothing; exp(-inf - -inf) would be NaN.
        if (!(left.Max > float.NegativeInfinity)) return right;
        if (!(right.Max > float.NegativeInfinity)) return left;
        float max = IntrinsicMath.Max(left.Max, right.Max);
        return new MaxSum { Max = max, Sum = left.Sum * DeviceMath.Exp(left.Max - max) + right.Sum * DeviceMath.Exp(right.Max - max) };
    }
}

/// <summary>A candidate maximum and where it is.</summary>
public struct ValueIndex
{
    /// <summary>The value.</summary>
    public float Value;
    /// <summary>Its index (int.MaxValue when empty).</summary>
    public int Index;
}

/// <summary>Larger value wins; equal values keep the smaller index, so the result is the first maximum. NaN never wins.</summary>
public readonly struct ArgMaxOperation : IReduceOperation<ValueIndex>
{
    /// <inheritdoc />
    public ValueIndex Identity => new() { Value = float.NegativeInfinity, Index = int.MaxValue };

    /// <inheritdoc />
    public ValueIndex Combine(ValueIndex left, ValueIndex right) =>
        right.Value > left.Value || (right.Value == left.Value && right.Index < left.Index) ? right : left;
}

/// <summary>
/// Group-wide reductions through shared memory.
/// </summary>
/// <remarks>
/// Two barriers and no shuffles: every thread stores its partial, the first warp folds one column each, and
/// every thread folds the (at most 32) column results, so all threads end with the same total in a fixed order.
/// On a GPU this costs about the same as a shuffle tree for the one reduction per row these kernels do; on
/// ILGPU's CPU accelerator, where each shuffle is two warp barriers plus a lock over OS threads, it is several
/// times cheaper, and the CPU accelerator is what CI runs. Back-to-back calls on the same scratch are safe:
/// each store happens after a barrier that every reader of the previous call has passed.
/// </remarks>
public static class GroupReduce
{
    /// <summary>Largest group the kernels launch; sizes the shared scratch.</summary>
    public const int MaxGroupSize = 128;

    /// <summary>Shared scratch for <see cref="AllReduce{T, TOperation}"/>: MaxGroupSize + 32 elements.</summary>
    public const int ScratchLength = MaxGroupSize + 32;

    /// <summary>Reduces <paramref name="value"/> over the group; every thread gets the result.</summary>
    public static T AllReduce<T, TOperation>(T value, ArrayView<T> scratch)
        where T : unmanaged
        where TOperation : struct, IReduceOperation<T>
    {
        var op = default(TOperation);
        int t = Group.IdxX, size = Group.DimX, lanes = IntrinsicMath.Min(Warp.WarpSize, size);
        scratch[t] = value;
        Group.Barrier();
        if (t < lanes)
        {
            T column = op.Identity;
            for (int i = t; i < size; i += lanes) column = op.Combine(column, scratch[i]);
            scratch[MaxGroupSize + t] = column;
        }
        Group.Barrier();
        T total = op.Identity;
        for (int i = 0; i < lanes; i++) total = op.Combine(total, scratch[MaxGroupSize + i]);
        return total;
    }
}
