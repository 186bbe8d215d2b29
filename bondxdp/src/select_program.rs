//! custom mode: a user's selection program, loaded from an object file and slotted into the
//! bond's program array (the contract is in `bondxdp_common::modes::custom`).
//!
//! `FILE.o[:PROGRAM]` names it (PROGRAM may be left out when the object holds one tc
//! classifier). [`check`] loads it on its own, before the host is touched, so a wrong file,
//! a missing map or a verifier refusal is a clear error that changes nothing; [`install`]
//! loads it again with the bond's own `SELECT_CTX` and `SELECT_PROGS` and swaps it in with one
//! map update, so packets see the old program or the new one, never none.

use std::path::PathBuf;

use aya::{
    Ebpf, EbpfLoader,
    maps::{Map, MapData, ProgramArray},
    programs::{Program, ProgramError},
};
use bondxdp_common::{
    modes::custom::{SELECT_CTX, SELECT_PROGS, SELECT_SLOT},
    records::SELECT_PROGRAM_MAX,
};

use crate::{
    error::{Error, Result},
    pins::BondPaths,
};

/// A parsed `FILE.o[:PROGRAM]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRef {
    /// The object file.
    pub file: PathBuf,
    /// The classifier in it (`None`: the only one).
    pub program: Option<String>,
}

impl ProgramRef {
    /// Parses `FILE.o[:PROGRAM]`: a suffix after the last `:` is a program name when it looks
    /// like one (letters, digits, `_`).
    pub fn parse(spec: &str) -> Result<ProgramRef> {
        let (file, program) = match spec.rsplit_once(':') {
            Some((file, name))
                if !name.is_empty()
                    && !file.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                (file, Some(name.to_string()))
            }
            _ => (spec, None),
        };
        if file.is_empty() {
            return Err(Error::invalid("select_program", "no file given"));
        }
        Ok(ProgramRef {
            file: PathBuf::from(file),
            program,
        })
    }

    /// The same reference with an absolute file path (what the bond records), checking the
    /// file exists.
    pub fn canonical(&self) -> Result<ProgramRef> {
        let file = self.file.canonicalize().map_err(|e| {
            Error::invalid(
                "select_program",
                format!("cannot open {}: {e}", self.file.display()),
            )
        })?;
        let r = ProgramRef {
            file,
            program: self.program.clone(),
        };
        if r.to_string().len() >= SELECT_PROGRAM_MAX {
            return Err(Error::invalid(
                "select_program",
                format!("{r} is longer than {} bytes", SELECT_PROGRAM_MAX - 1),
            ));
        }
        Ok(r)
    }
}

impl std::fmt::Display for ProgramRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = &self.program {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// `spec` with an absolute file path (what a bond records), checking the file exists.
pub fn canonical(spec: &str) -> Result<String> {
    Ok(ProgramRef::parse(spec)?.canonical()?.to_string())
}

/// Resolves `spec` to its canonical form and proves it loads (own maps, nothing attached):
/// the error `up` gives before anything on the host changes.
pub fn check(spec: &str) -> Result<String> {
    let r = ProgramRef::parse(spec)?.canonical()?;
    load(&r, None)?;
    Ok(r.to_string())
}

/// Loads `spec` with the bond's maps and makes it the bond's selection program (one update
/// of the program array); on any error nothing changed. Returns the canonical reference to
/// record.
pub fn install(paths: &BondPaths, spec: &str) -> Result<String> {
    let r = ProgramRef::parse(spec)?.canonical()?;
    let ebpf = load(&r, Some(paths))?;
    let program = classifier(&ebpf, &r)?.1;
    let fd = program.fd().map_err(|e| bad(&r, e.to_string()))?;
    let data = MapData::from_pin(paths.map(SELECT_PROGS))?;
    let mut progs = ProgramArray::try_from(Map::ProgramArray(data))?;
    progs.set(SELECT_SLOT, fd, 0)?;
    // The program array holds the program now; dropping `ebpf` closes only our handles.
    Ok(r.to_string())
}

/// Empties the bond's selection slot (custom mode then sends by the fallback and counts
/// `custom_no_program`).
pub fn uninstall(paths: &BondPaths) -> Result<()> {
    let data = MapData::from_pin(paths.map(SELECT_PROGS))?;
    let mut progs = ProgramArray::try_from(Map::ProgramArray(data))?;
    match progs.clear_index(&SELECT_SLOT) {
        Ok(()) => Ok(()),
        // Already empty.
        Err(aya::maps::MapError::SyscallError(e))
            if e.io_error.raw_os_error() == Some(libc::ENOENT) =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Loads the object of `r` (with the bond's maps when `paths` is given) and its classifier.
fn load(r: &ProgramRef, paths: Option<&BondPaths>) -> Result<Ebpf> {
    let bytes = std::fs::read(&r.file).map_err(|e| bad(r, format!("cannot read it: {e}")))?;
    let mut loader = EbpfLoader::new();
    let (ctx_pin, progs_pin);
    if let Some(paths) = paths {
        ctx_pin = paths.map(SELECT_CTX);
        progs_pin = paths.map(SELECT_PROGS);
        loader
            .map_pin_path(SELECT_CTX, ctx_pin.as_path())
            .map_pin_path(SELECT_PROGS, progs_pin.as_path());
    }
    let mut ebpf = loader
        .load(&bytes)
        .map_err(|e| bad(r, format!("not a loadable eBPF object: {e}")))?;
    for (map, kind) in [
        (SELECT_CTX, "PerCpuArray<SelectContext>"),
        (SELECT_PROGS, "ProgramArray"),
    ] {
        if ebpf.map(map).is_none() {
            return Err(bad(
                r,
                format!("it declares no map {map} ({kind}); see docs/modes.md, \"custom mode\""),
            ));
        }
    }
    if !matches!(ebpf.map(SELECT_PROGS), Some(Map::ProgramArray(_))) {
        return Err(bad(r, format!("its {SELECT_PROGS} is not a program array")));
    }
    let name = classifier(&ebpf, r)?.0;
    let Some(Program::SchedClassifier(program)) = ebpf.program_mut(&name) else {
        unreachable!("found just above");
    };
    program.load().map_err(|e| match e {
        ProgramError::LoadError { verifier_log, .. } => {
            bad(r, format!("the verifier refused {name}:\n{verifier_log}"))
        }
        e => bad(r, format!("cannot load {name}: {e}")),
    })?;
    Ok(ebpf)
}

/// The classifier `r` names (or the object's only one): its name and program.
fn classifier<'a>(
    ebpf: &'a Ebpf,
    r: &ProgramRef,
) -> Result<(String, &'a aya::programs::SchedClassifier)> {
    let tc: Vec<(&str, &aya::programs::SchedClassifier)> = ebpf
        .programs()
        .filter_map(|(name, p)| match p {
            Program::SchedClassifier(c) => Some((name, c)),
            _ => None,
        })
        .collect();
    let names = || tc.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    match &r.program {
        Some(want) => tc
            .iter()
            .find(|(n, _)| n == want)
            .map(|(n, c)| (n.to_string(), *c))
            .ok_or_else(|| {
                bad(
                    r,
                    format!("it has no tc classifier {want:?} (it has: {})", names()),
                )
            }),
        None => match tc.as_slice() {
            [(n, c)] => Ok((n.to_string(), *c)),
            [] => Err(bad(
                r,
                "it has no tc classifier (#[classifier]) program".into(),
            )),
            _ => Err(bad(
                r,
                format!(
                    "it has several classifiers; name one as FILE.o:PROGRAM ({})",
                    names()
                ),
            )),
        },
    }
}

fn bad(r: &ProgramRef, message: String) -> Error {
    Error::invalid("select_program", format!("{}: {message}", r.file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_and_without_a_program() {
        let r = ProgramRef::parse("/x/sel.o").unwrap();
        assert_eq!(r.file, PathBuf::from("/x/sel.o"));
        assert_eq!(r.program, None);
        let r = ProgramRef::parse("sel.o:weighted_hash").unwrap();
        assert_eq!(r.file, PathBuf::from("sel.o"));
        assert_eq!(r.program.as_deref(), Some("weighted_hash"));
        assert_eq!(r.to_string(), "sel.o:weighted_hash");
        // A colon inside a path is not a program name.
        let r = ProgramRef::parse("/a:b/sel.o").unwrap();
        assert_eq!(r.program, None);
        assert!(ProgramRef::parse("").is_err());
    }

    #[test]
    fn missing_files_are_clear_errors() {
        let e = check("/nonexistent/select.o").unwrap_err().to_string();
        assert!(e.contains("cannot open /nonexistent/select.o"), "{e}");
    }
}
