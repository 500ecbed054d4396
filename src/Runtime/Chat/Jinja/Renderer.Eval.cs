namespace LongLM.Runtime.Chat.Jinja;

internal sealed partial class Renderer
{
    public object? Eval(Expr expr, Scope scope)
    {
        Step();
        _current = expr;
        switch (expr)
        {
            case ConstExpr c:
                return c.Value;
            case NameExpr n:
                return scope.TryLookup(n.Name, out var v) ? v : new Undefined($"'{n.Name}' is undefined");
            case GetAttrExpr ga:
                return Attributes.GetAttr(this, Eval(ga.Target, scope), ga.Attribute);
            case GetItemExpr gi:
            {
                var target = Eval(gi.Target, scope);
                return Attributes.GetItem(this, target, Eval(gi.Key, scope));
            }
            case SliceExpr sl:
            {
                var target = Eval(sl.Target, scope);
                object? start = sl.Start is null ? null : Eval(sl.Start, scope);
                object? stop = sl.Stop is null ? null : Eval(sl.Stop, scope);
                object? step = sl.Step is null ? null : Eval(sl.Step, scope);
                return Slicing.Slice(target, start, stop, step);
            }
            case CallExpr call:
            {
                var callee = Eval(call.Callee, scope);
                var args = EvalArgs(call.Args, call.Kwargs, scope);
                _current = call;
                return Invoke(callee, args, call);
            }
            case FilterExpr f:
                return Filters.Apply(this, f.Filter, Eval(f.Value, scope), scope);
            case TestExpr t:
            {
                var value = Eval(t.Value, scope);
                var args = t.Args.Select(a => Eval(a, scope)).ToList();
                _current = t;
                bool result = Tests.Apply(this, t.Test, value, args);
                return t.Negated ? !result : result;
            }
            case BinaryExpr b:
                return EvalBinary(b, scope);
            case UnaryExpr u:
            {
                var operand = Eval(u.Operand, scope);
                _current = u;
                return u.Op switch
                {
                    "not" => !PyOps.Truthy(operand),
                    "-" => PyOps.Negate(operand),
                    _ => PyOps.Positive(operand),
                };
            }
            case CompareExpr cmp:
            {
                var left = Eval(cmp.First, scope);
                foreach (var (op, rightExpr) in cmp.Rest)
                {
                    var right = Eval(rightExpr, scope);
                    _current = cmp;
                    bool ok = op switch
                    {
                        "==" => PyOps.Equal(left, right),
                        "!=" => !PyOps.Equal(left, right),
                        "<" => PyOps.Compare(left, right, "<") < 0,
                        "<=" => PyOps.Compare(left, right, "<=") <= 0,
                        ">" => PyOps.Compare(left, right, ">") > 0,
                        ">=" => PyOps.Compare(left, right, ">=") >= 0,
                        "in" => PyOps.Contains(right, left),
                        _ => !PyOps.Contains(right, left),
                    };
                    if (!ok) return false;
                    left = right;
                }
                return true;
            }
            case CondExpr ce:
                if (PyOps.Truthy(Eval(ce.Test, scope))) return Eval(ce.Then, scope);
                return ce.Else is null ? new Undefined("the conditional expression had no else branch") : Eval(ce.Else, scope);
            case ListExpr l:
                return new PyList(l.Items.Select(i => Eval(i, scope)).ToList(), l.IsTuple);
            case DictExpr d:
            {
                var dict = new PyDict();
                foreach (var (k, val) in d.Items)
                {
                    var key = Eval(k, scope);
                    if (key is null || !PyKeyComparer.IsHashable(key)) throw new JinjaError($"unhashable or unsupported dict key type: '{PyOps.TypeName(key)}'");
                    dict.Set(key, Eval(val, scope));
                }
                return dict;
            }
            case ConcatExpr cc:
            {
                var sb = new System.Text.StringBuilder();
                foreach (var part in cc.Parts)
                {
                    string s = PyFormat.Str(Eval(part, scope));
                    CheckLength((long)sb.Length + s.Length);
                    sb.Append(s);
                }
                return sb.ToString();
            }
            default:
                throw new JinjaError($"cannot evaluate {expr.GetType().Name}");
        }
    }

    private object? EvalBinary(BinaryExpr b, Scope scope)
    {
        var left = Eval(b.Left, scope);
        if (b.Op == "and") return PyOps.Truthy(left) ? Eval(b.Right, scope) : left;
        if (b.Op == "or") return PyOps.Truthy(left) ? left : Eval(b.Right, scope);
        var right = Eval(b.Right, scope);
        _current = b;
        return b.Op switch
        {
            "+" => PyOps.Add(left, right, this),
            "-" => PyOps.Subtract(left, right),
            "*" => PyOps.Multiply(left, right, this),
            "/" => PyOps.TrueDivide(left, right),
            "//" => PyOps.FloorDivide(left, right),
            "%" => PyOps.Modulo(left, right),
            "**" => PyOps.Power(left, right),
            _ => throw new JinjaError($"unknown operator {b.Op}"),
        };
    }

    public CallArgs EvalArgs(IReadOnlyList<Expr> args, IReadOnlyList<(string Name, Expr Value)> kwargs, Scope scope)
    {
        if (args.Count == 0 && kwargs.Count == 0) return CallArgs.Empty;
        var positional = args.Select(a => Eval(a, scope)).ToList();
        var keyword = kwargs.Select(k => new KeyValuePair<string, object?>(k.Name, Eval(k.Value, scope))).ToList();
        return new CallArgs(positional, keyword);
    }

    public object? Invoke(object? callee, CallArgs args, Node at)
    {
        switch (callee)
        {
            case Callable c:
                var result = c.Call(this, args);
                _current = at;
                return result;
            case Undefined u:
                throw new JinjaError(PyOps.UndefinedMessage(u));
            default:
                throw new JinjaError($"'{PyOps.TypeName(callee)}' object is not callable");
        }
    }
}
