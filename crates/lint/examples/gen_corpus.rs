fn main(){ let n: usize = std::env::args().nth(1).unwrap().parse().unwrap(); tenantguard_lint::corpus::generate(std::path::Path::new(&std::env::args().nth(2).unwrap()), n).unwrap(); }
