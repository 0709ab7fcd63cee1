//! coring's attribute macros, re-exported by the `coring` crate as
//! `#[coring::main]` and `#[coring::test]`. Use them through `coring`: the
//! expansions name `::coring::__private`, which only the facade has.
//!
//! Both take the same options, comma separated:
//!
//! - `backend = "auto" | "io_uring" | "epoll"`: `coring::Builder::backend`
//!   (default `auto`, which `CORING_BACKEND` overrides). `#[coring::test]`
//!   also takes `"all"`: the body runs once on io_uring (skipped, with a
//!   line on stderr, where io_uring is unavailable) and once on epoll.
//! - `entries = N`: the ring's SQ entries (`coring::Builder::entries`).
//! - `cores = N` or `cores = "all"` (one per CPU this process may run
//!   on): run the body on `N` pinned cores (`coring::cores`), once
//!   on each; the return type must then be `()` or `Result<(), E>`, and
//!   the first error by core index is returned.
//!
//! The function must be `async`, take no arguments and have no generics.
//! Its body moves, unchanged, into an inner `async fn` of the same
//! signature, so `?`, `return` and spans behave as in any async fn.
//!
//! The expansions name the runtime as `::coring`: the crate must be a
//! dependency under that name.
#![warn(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

/// Runs `async fn main` on a coring runtime.
///
/// ```ignore
/// #[coring::main]
/// async fn main() -> std::io::Result<()> {
///     coring::time::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
///
/// expands to (roughly)
///
/// ```ignore
/// fn main() -> std::io::Result<()> {
///     async fn __coring_body() -> std::io::Result<()> { /* the body */ }
///     ::coring::__private::block_on(::coring::Builder::new(), __coring_body())
/// }
/// ```
///
/// Options: `backend = "auto" | "io_uring" | "epoll"`, `entries = N`,
/// `cores = N` (see the crate docs). A runtime that cannot be built
/// panics with the error.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a coring runtime: `#[test]` plus the
/// runtime.
///
/// ```ignore
/// #[coring::test(backend = "all")]
/// async fn nop_works() {
///     coring::io::nop().await.unwrap();
/// }
/// ```
///
/// Options as [`macro@main`], and `backend = "all"`: the body runs once on
/// io_uring and once on epoll (the io_uring run is skipped, saying why on
/// stderr, where io_uring is unavailable). `#[should_panic]` and
/// `#[ignore]` may follow the attribute.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "#[coring::main]",
            Kind::Test => "#[coring::test]",
        }
    }
}

#[derive(Clone, Copy)]
enum BackendOpt {
    Auto,
    IoUring,
    Epoll,
    All,
}

#[derive(Default)]
struct Options {
    backend: Option<(BackendOpt, Span)>,
    entries: Option<(u32, Span)>,
    /// `None` inside: `cores = "all"`, one per CPU this process may use.
    cores: Option<(Option<usize>, Span)>,
}

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    match options(kind, args).and_then(|opts| check(kind, &func).map(|()| opts)) {
        Ok(opts) => generate(kind, func, opts),
        Err(e) => {
            // The error, and the function made sync with a body of any
            // type, so that the error above is the only one the user sees
            // (the compile_error! stops the build: this body never runs).
            func.sig.asyncness = None;
            func.sig.inputs.clear();
            func.sig.generics = syn::Generics::default();
            func.block = syn::parse_quote!({
                ::core::panic!("coring: this function did not compile (see the error above)")
            });
            let err = e.to_compile_error();
            quote! {
                #err
                #[allow(dead_code, unreachable_code)]
                #func
            }
        }
    }
}

fn options(kind: Kind, args: TokenStream2) -> syn::Result<Options> {
    let list = Punctuated::<MetaNameValue, Token![,]>::parse_terminated
        .parse2(args)
        .map_err(|e| {
            syn::Error::new(
                e.span(),
                format!(
                    "{}: options are `name = value`, comma separated: \
                     backend = \"...\", entries = N, cores = N ({e})",
                    kind.name()
                ),
            )
        })?;
    let mut opts = Options::default();
    for nv in list {
        let name = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let span = nv.span();
        match name.as_str() {
            "backend" => {
                if opts.backend.is_some() {
                    return Err(syn::Error::new_spanned(&nv, "`backend` is given twice"));
                }
                let s = lit_str(&nv.value, "backend")?;
                let b = match (s.value().as_str(), kind) {
                    ("auto", _) => BackendOpt::Auto,
                    ("io_uring", _) => BackendOpt::IoUring,
                    ("epoll", _) => BackendOpt::Epoll,
                    ("all", Kind::Test) => BackendOpt::All,
                    ("all", Kind::Main) => {
                        return Err(syn::Error::new(
                            s.span(),
                            "`backend = \"all\"` is for #[coring::test]; \
                             #[coring::main] takes \"auto\", \"io_uring\" or \"epoll\"",
                        ))
                    }
                    (other, _) => {
                        let all = if kind == Kind::Test { ", \"all\"" } else { "" };
                        return Err(syn::Error::new(
                            s.span(),
                            format!(
                                "unknown backend {other:?}: use \"auto\", \"io_uring\", \
                                 \"epoll\"{all}"
                            ),
                        ));
                    }
                };
                opts.backend = Some((b, span));
            }
            "entries" => {
                if opts.entries.is_some() {
                    return Err(syn::Error::new_spanned(&nv, "`entries` is given twice"));
                }
                let n: u32 = lit_int(&nv.value, "entries")?;
                if !(1..=32768).contains(&n) {
                    return Err(syn::Error::new(
                        nv.value.span(),
                        "`entries` must be between 1 and 32768",
                    ));
                }
                opts.entries = Some((n, span));
            }
            "cores" => {
                if opts.cores.is_some() {
                    return Err(syn::Error::new_spanned(&nv, "`cores` is given twice"));
                }
                let n = match &nv.value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) if s.value() == "all" => None,
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => {
                        return Err(syn::Error::new(
                            s.span(),
                            "`cores` takes an integer or \"all\" (one per CPU)",
                        ))
                    }
                    value => Some(lit_int::<usize>(value, "cores")?),
                };
                if n == Some(0) {
                    return Err(syn::Error::new(
                        nv.value.span(),
                        "`cores` must be at least 1",
                    ));
                }
                opts.cores = Some((n, span));
            }
            _ => {
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!(
                        "unknown option `{}` of {}: the options are backend, entries, cores",
                        {
                            let path = &nv.path;
                            quote!(#path).to_string().replace(' ', "")
                        },
                        kind.name()
                    ),
                ))
            }
        }
    }
    Ok(opts)
}

fn lit_str(value: &Expr, name: &str) -> syn::Result<syn::LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{name}` takes a string literal, like {name} = \"epoll\""),
        )),
    }
}

fn lit_int<N>(value: &Expr, name: &str) -> syn::Result<N>
where
    N: std::str::FromStr,
    N::Err: std::fmt::Display,
{
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse(),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{name}` takes an integer literal, like {name} = 2"),
        )),
    }
}

fn check(kind: Kind, func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "{} needs an `async fn`: add `async` before `fn`",
                kind.name()
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!("{} functions take no arguments", kind.name()),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("{} functions cannot be generic", kind.name()),
        ));
    }
    if kind == Kind::Test {
        if let Some(attr) = func.attrs.iter().find(|a| a.path().is_ident("test")) {
            return Err(syn::Error::new_spanned(
                attr,
                "#[coring::test] already adds #[test]: remove this one",
            ));
        }
    }
    Ok(())
}

fn generate(kind: Kind, func: ItemFn, opts: Options) -> TokenStream2 {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let body_ident = format_ident!("__coring_body");
    let mut inner_sig = sig.clone();
    inner_sig.ident = body_ident.clone();
    let mut outer_sig = sig;
    outer_sig.asyncness = None;
    let span = outer_sig.fn_token.span();

    let mut builder = quote_spanned!(span=> ::coring::Builder::new());
    if let Some((n, s)) = opts.entries {
        builder = quote_spanned!(s=> #builder.entries(#n));
    }
    let backend = |b: BackendOpt| match b {
        BackendOpt::Auto | BackendOpt::All => quote!(::coring::Backend::Auto),
        BackendOpt::IoUring => quote!(::coring::Backend::IoUring),
        BackendOpt::Epoll => quote!(::coring::Backend::Epoll),
    };
    let all = matches!(opts.backend, Some((BackendOpt::All, _)));
    if let Some((b, s)) = opts.backend {
        if !all {
            let b = backend(b);
            builder = quote_spanned!(s=> #builder.backend(#b));
        }
    }
    let run = |builder: TokenStream2| match opts.cores {
        None => quote_spanned!(span=> ::coring::__private::block_on(#builder, #body_ident())),
        Some((n, s)) => {
            let n = match n {
                Some(n) => quote!(#n),
                None => quote!(::coring::__private::all_cores()),
            };
            quote_spanned!(s=>
                ::coring::__private::run_cores(#n, #builder, || #body_ident())
            )
        }
    };
    let call = if all {
        let one = run(quote!(__coring_builder));
        quote_spanned!(span=>
            ::coring::__private::each_backend(#builder, |__coring_builder| #one)
        )
    } else {
        run(builder)
    };
    let test_attr = match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    quote! {
        #test_attr
        #(#attrs)*
        #vis #outer_sig {
            #inner_sig #block
            #call
        }
    }
}
